"""Injected faults on a real workspace: a reindex killed with SIGKILL, a server refused.

Everything here drives the real command line in a subprocess (``marketplace
reindex`` / ``marketplace serve`` via ``python -m scripts.cli``), because the
guarantees under test are about processes dying and files on disk, which an
in-process call cannot fake. After each fault the workspace is inspected the
way a restarted server would see it: ``index/current`` must load with the
model, the catalogue store must pass SQLite's integrity check with the same
live listings, and the next reindex must complete.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import time
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.harness import REPO_ROOT, RunningServer, cli_command, serve
from indexing.index_store import IndexDirectory, IndexManifest, IndexVersion
from multimodal.data.catalogue import (
    IMAGES_DIR,
    LISTINGS_FILE,
    load_clean_catalogue,
    write_listings,
)
from multimodal.workspace import Workspace


@dataclass(frozen=True)
class FaultWorkspace:
    """A dataset workspace under its own ``MARKETPLACE_HOME``, driven through the CLI."""

    data_dir: Path
    home: Path

    @property
    def workspace(self) -> Workspace:
        return Workspace.for_data(self.data_dir, home=self.home)

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            MARKETPLACE_HOME=str(self.home),
            PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")])),
            HF_HUB_OFFLINE="1",
            PYTHONUNBUFFERED="1",
        )
        env.pop("MARKETPLACE_DATA", None)
        env.update(extra)
        return env

    def serve(self, **env: str) -> AbstractContextManager[RunningServer]:
        """``marketplace serve`` on this workspace, ready (see ``benchmarks.harness.serve``)."""
        return serve(self.data_dir, env=self.env(**env))

    def reindex_command(self, full: bool = True) -> list[str]:
        extra = ["--full"] if full else []
        return cli_command("reindex", "--data", str(self.data_dir), "--quiet", *extra)

    def reindex(self, full: bool = True, timeout_s: float = 900) -> subprocess.CompletedProcess:
        """Run a reindex to completion; raise with its stderr if it fails."""
        done = subprocess.run(
            self.reindex_command(full),
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"reindex failed ({done.returncode}): {done.stderr.strip()}")
        return done


def subset_workspace(
    clean_dir: Path, model_dir: Path, home: Path, n_listings: int
) -> FaultWorkspace:
    """A scratch workspace with the first ``n_listings`` of a cleaned catalogue and its model.

    Faults are injected on this copy, never on the dataset's own workspace, and
    a small catalogue keeps each full reindex to seconds. The photos and the
    model are symlinked: the faults under test never write to either.
    """
    ws = FaultWorkspace(data_dir=home / "subset-data", home=home)
    ws.data_dir.mkdir(parents=True, exist_ok=True)
    target = ws.workspace
    target.clean_dir.mkdir(parents=True, exist_ok=True)
    listings = load_clean_catalogue(clean_dir).listings[:n_listings]
    write_listings(target.clean_dir / LISTINGS_FILE, listings)
    _link(target.clean_dir / IMAGES_DIR, clean_dir / IMAGES_DIR)
    _link(target.model_dir, model_dir)
    return ws


def _link(link: Path, to: Path) -> None:
    if not link.is_symlink():
        link.symlink_to(to.resolve(), target_is_directory=True)


@dataclass(frozen=True)
class IndexState:
    version: int
    count: int
    fingerprint: str


def index_state(ws: FaultWorkspace) -> IndexState:
    """Load ``index/current`` fully (vectors, photos, lexical), as a server would."""
    directory = IndexDirectory(ws.workspace.index_dir)
    current = directory.require_current()
    fingerprint = IndexManifest.read(current).model_fingerprint
    loaded = IndexVersion.load(current, fingerprint)
    return IndexState(loaded.manifest.version, loaded.manifest.count, fingerprint)


def store_state(ws: FaultWorkspace) -> tuple[str, int, int]:
    """``PRAGMA integrity_check``, live listings and events, read without the app's code."""
    uri = f"file:{ws.workspace.store_path}?mode=ro"
    with sqlite3.connect(uri, uri=True) as conn:
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        live = conn.execute("SELECT COUNT(*) FROM listings WHERE deleted = 0").fetchone()[0]
        events = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    return integrity, live, events


@dataclass(frozen=True)
class KillOutcome:
    """One SIGKILLed reindex and what the workspace looked like afterwards."""

    trigger: str  # "after 3.20 s" or "when staging appeared"
    killed_after_s: float
    was_running: bool  # False: it had already finished when the kill came
    version_before: int  # after: the same, or a newer complete one if the swap had landed
    version_after: int
    index_loads: bool
    index_count: int
    store_integrity: str
    listings_before: int
    listings_after: int
    error: str | None

    @property
    def ok(self) -> bool:
        return (
            self.error is None
            and self.index_loads
            and self.version_after >= self.version_before
            and self.store_integrity == "ok"
            and self.listings_after == self.listings_before
        )

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def staging_in_progress(index_dir: Path) -> bool:
    """A reindex is writing a new version (its staging folder exists)."""
    return any(index_dir.glob(".staging-*"))


def kill_reindex(
    ws: FaultWorkspace,
    *,
    after_s: float | None = None,
    at_staging: bool = False,
    give_up_s: float = 600,
) -> KillOutcome:
    """Start a full reindex, SIGKILL it after ``after_s`` or once it starts writing, inspect.

    ``at_staging`` kills the moment the new version's staging folder appears,
    i.e. in the middle of writing the index files: the riskiest point.
    """
    before = index_state(ws)
    _, listings_before, _ = store_state(ws)
    index_dir = ws.workspace.index_dir
    proc = subprocess.Popen(
        ws.reindex_command(full=True),
        env=ws.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    started = time.perf_counter()
    deadline = started + (after_s if after_s is not None else give_up_s)
    while time.perf_counter() < deadline and proc.poll() is None:
        if at_staging and staging_in_progress(index_dir):
            break
        time.sleep(0.002 if at_staging else 0.01)
    was_running = proc.poll() is None
    killed_after = time.perf_counter() - started
    if was_running:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    trigger = "when staging appeared" if at_staging else f"after {after_s:.2f} s"
    try:
        after = index_state(ws)
        integrity, listings_after, _ = store_state(ws)
    except Exception as exc:  # the very thing under test: any failure to load is the finding
        return KillOutcome(
            trigger,
            round(killed_after, 3),
            was_running,
            before.version,
            -1,
            False,
            0,
            "unreadable",
            listings_before,
            -1,
            f"{type(exc).__name__}: {exc}",
        )
    return KillOutcome(
        trigger=trigger,
        killed_after_s=round(killed_after, 3),
        was_running=was_running,
        version_before=before.version,
        version_after=after.version,
        index_loads=True,
        index_count=after.count,
        store_integrity=integrity,
        listings_before=listings_before,
        listings_after=listings_after,
        error=None,
    )


@dataclass(frozen=True)
class RefusalOutcome:
    """A ``marketplace serve`` that must refuse to start."""

    case: str
    returncode: int | None
    message: str
    seconds: float

    @property
    def ok(self) -> bool:
        """Refused with one error line; the JSON log lines start-up wrote beside it (the
        device it picked) are the operator's log, not the message."""
        lines = [
            line for line in self.message.splitlines() if line.strip() and not line.startswith("{")
        ]
        return (
            self.returncode not in (None, 0) and len(lines) == 1 and "Traceback" not in self.message
        )

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def serve_refusal(
    ws: FaultWorkspace, case: str, port: int, timeout_s: float = 180
) -> RefusalOutcome:
    """Run ``marketplace serve`` on a broken workspace; it must exit with one line on stderr."""
    started = time.perf_counter()
    try:
        done = subprocess.run(
            cli_command("serve", "--data", str(ws.data_dir), "--port", str(port)),
            env=ws.env(),
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        returncode, message = done.returncode, done.stderr.strip()
    except subprocess.TimeoutExpired:
        returncode, message = None, f"still running after {timeout_s} s"
    return RefusalOutcome(case, returncode, message, round(time.perf_counter() - started, 2))


@dataclass(frozen=True)
class KillCampaign:
    """Several SIGKILLed reindexes in a row, then one that must complete."""

    full_reindex_s: float  # an uninterrupted full run, which the random delays scale to
    kills: list[KillOutcome]
    next_version_before: int
    next_version_after: int
    next_count: int
    store_count: int
    staging_left: int

    @property
    def ok(self) -> bool:
        return (
            all(kill.ok for kill in self.kills)
            and self.next_version_after > self.next_version_before
            and self.next_count == self.store_count
            and self.staging_left == 0
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "kills": [kill.as_dict() for kill in self.kills],
            "ok": self.ok,
        }


def kill_campaign(ws: FaultWorkspace, random_kills: int, seed: int) -> KillCampaign:
    """Time a full reindex, kill ``random_kills`` runs at random points of it plus one
    the moment it starts writing files, then check that the next full run completes."""
    started = time.perf_counter()
    ws.reindex(full=True)
    duration = time.perf_counter() - started
    rng = random.Random(seed)
    delays = sorted(rng.uniform(0.1, 0.85) * duration for _ in range(random_kills))
    kills = [kill_reindex(ws, after_s=delay) for delay in delays]
    kills.append(kill_reindex(ws, at_staging=True))
    before = index_state(ws)
    ws.reindex(full=True)
    after = index_state(ws)
    return KillCampaign(
        full_reindex_s=round(duration, 2),
        kills=kills,
        next_version_before=before.version,
        next_version_after=after.version,
        next_count=after.count,
        store_count=store_state(ws)[1],
        staging_left=len(list(ws.workspace.index_dir.glob(".staging-*"))),
    )
