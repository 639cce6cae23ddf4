"""One Ray reindex (sync, then reindex) as its own process; the driver's peak RSS as JSON.

Run by ``benchmarks.reindex_memory`` as ``python reindex_driver.py ARGS_JSON``
with ``PYTHONPATH`` naming the code to measure (this tree, or a copy of an
older one, to compare side by side), so it imports nothing but the product.
A fresh process per run: the peak is this run's alone. Ray's workers are
other processes; only the driver is measured, sampled every 20 ms in a thread
and checked against the kernel's own high-water mark of this process's memory
(``VmHWM``; not ``ru_maxrss``, which Linux carries over from the parent that
forked it, here one that had a model loaded).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import fields
from pathlib import Path

import psutil


class PeakRss:
    """The highest resident set size of this process, sampled in a thread."""

    def __init__(self, every_s: float = 0.02) -> None:
        self.peak = 0
        self._every = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        process = psutil.Process()
        while not self._stop.is_set():
            self.peak = max(self.peak, process.memory_info().rss)
            self._stop.wait(self._every)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _high_water_mark() -> int:
    """The kernel's peak resident set size of this process (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def main(args: dict) -> dict:
    from indexing.config import IndexConfig, ReindexConfig
    from indexing.reindex.reader import sync_catalogue
    from indexing.reindex.runner import reindex
    from indexing.store import Store

    known = {f.name for f in fields(ReindexConfig)}  # an older tree may lack newer fields
    config = ReindexConfig(
        **{k: v for k, v in args["config"].items() if k in known},
        index=IndexConfig(**args["index"]),
    )
    started = time.perf_counter()
    baseline = psutil.Process().memory_info().rss
    with Store(args["store"], image_dir=Path(args["images"])) as store, PeakRss() as peak:
        # as ``marketplace reindex`` does: the cleaned file is synced into the store first
        synced = sync_catalogue(store, Path(args["clean_dir"]))
        sync_peak, sync_seconds = peak.peak, time.perf_counter() - started
        summary = reindex(store, Path(args["index_root"]), Path(args["model_dir"]), config)
    return {
        "seconds": round(time.perf_counter() - started, 1),
        "sync_seconds": round(sync_seconds, 1),
        "sync_unchanged": synced.unchanged,
        "driver_sync_peak_rss_bytes": sync_peak,
        "driver_peak_rss_bytes": peak.peak,
        "driver_vm_hwm_bytes": _high_water_mark(),
        "driver_rss_after_imports_bytes": baseline,
        "listings": summary.count,
        "embedded": summary.embedded,
        "index_kind": summary.kind,
        "version_dir": str(summary.path),
    }


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
