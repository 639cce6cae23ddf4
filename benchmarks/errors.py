"""The one exception a benchmark raises for an expected failure."""


class BenchError(Exception):
    """A benchmark cannot run as asked (no model, no index, a server that will not start).

    The ``marketplace bench`` command prints it as one line and exits 2; anything
    else escaping a benchmark is a bug and keeps its traceback.
    """
