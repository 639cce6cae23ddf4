"""Reliability harness: hostile inputs, injected faults and load, shared by tests and bench."""
