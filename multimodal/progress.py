"""A long job's progress as a small JSON file that other processes read.

Training runs in its own process while the first index serves (``marketplace
demo``); the server and the command line learn where it stands by reading
this file, never by talking to the process. Each write replaces the file
whole (a rename), so a reader never sees half of one; writes within
``min_interval`` seconds of the last are skipped, so a per-batch call costs
nothing.

The file says which step runs (``stage``), how far it is (``done`` of
``total`` units), an estimate of that step's seconds left from its own rate
so far, and the job's ``state``: ``running``, ``done`` or ``failed``.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROGRESS_FILE = "progress.json"


@dataclass
class Progress:
    """Writes a job's progress to ``path`` (nothing at all when ``path`` is None)."""

    path: Path | None
    job: str = "training"
    min_interval: float = 1.0
    _stage: str = field(default="", init=False)
    _stage_started: float = field(default=0.0, init=False)
    _job_started: float = field(default_factory=time.time, init=False)
    _written: float = field(default=0.0, init=False)

    def update(
        self, stage: str, done: int, total: int, detail: str = "", force: bool = False
    ) -> None:
        """``done`` of ``total`` units of ``stage`` are finished (``detail``: where in
        it, e.g. its epoch)."""
        now = time.time()
        if stage != self._stage:
            self._stage, self._stage_started, force = stage, now, True
        if not force and now - self._written < self.min_interval:
            return
        elapsed = now - self._stage_started
        left = None
        if 0 < done < total and elapsed > 0:
            left = round(elapsed / done * (total - done), 1)
        self._write(
            {
                "state": "running",
                "stage": stage,
                "detail": detail,
                "done": done,
                "total": total,
                "stage_seconds_left": left,
            }
        )

    def finish(self, state: str = "done", detail: str = "") -> None:
        """The job ended: ``done``, or ``failed`` with ``detail``."""
        self._write({"state": state, "stage": self._stage, "detail": detail}, finished=True)

    def _write(self, body: dict[str, Any], finished: bool = False) -> None:
        if self.path is None:
            return
        now = time.time()
        self._written = now
        body = {
            "job": self.job,
            **body,
            "started": self._job_started,
            "updated": now,
            "elapsed_seconds": round(now - self._job_started, 1),
            "pid": os.getpid(),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(body))
        tmp.replace(self.path)


def read_progress(path: Path) -> dict[str, Any] | None:
    """The progress a job last wrote to ``path``, or None when there is none (yet)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def describe(progress: dict[str, Any] | None) -> str:
    """One line for a person: ``stage 2 epoch 3/4: 120/224 batches, about 2 min left``."""
    if not progress:
        return ""
    if progress.get("state") != "running":
        detail = progress.get("detail") or ""
        return f"{progress.get('job', 'job')} {progress.get('state')}" + (
            f": {detail}" if detail else ""
        )
    detail = f" {progress['detail']}" if progress.get("detail") else ""
    line = f"{progress['stage']}{detail}: {progress['done']:,}/{progress['total']:,}"
    left = progress.get("stage_seconds_left")
    if left is not None:
        line += f", about {_duration(left)} left in this step"
    return line


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    return f"{round(seconds / 60)} min"
