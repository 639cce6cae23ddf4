"""Performance and reliability harnesses: reindex, search, scaling, encode, load and faults.

Each benchmark writes a JSON report under ``reports/`` and prints one summary
line; ``marketplace bench`` (``scripts/bench.py``) is their command line.
What they share (a server subprocess, percentiles, machine info, report
writing) is ``benchmarks.harness``. Benchmarks may use ``evaluation`` (its
metrics and plots); nothing in ``evaluation`` or the product imports them.
"""
