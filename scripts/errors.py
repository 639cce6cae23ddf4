"""The one exception type the CLI turns into a one-line message."""


class CliError(Exception):
    """An expected failure (bad input, missing file): printed as one line, exit 2."""
