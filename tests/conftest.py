"""Shared fixtures live in ``tests/fixtures/<area>.py``, one module per area."""

pytest_plugins = [
    "tests.fixtures.data",
    "tests.fixtures.model",
    "tests.fixtures.index",
    "tests.fixtures.api",
    "tests.fixtures.postgres",
]
