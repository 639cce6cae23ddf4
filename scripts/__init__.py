"""Thin command-line entry points: parse arguments, build config, call the packages."""
