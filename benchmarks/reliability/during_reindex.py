"""What a running server sees while a reindex runs beside it.

Two guarantees, each checked against a real server and a real reindex
subprocess on the same workspace:

- searches keep succeeding while the new version is written and ``current``
  is swapped, and a process loading ``current`` mid-swap always gets a whole
  version (never half-written files);
- listing writes (create, update, delete through the API) that arrive while
  the reindex runs are kept: by the running server, in the store, after the
  next reindex, and by a server restarted afterwards.
"""

from __future__ import annotations

import subprocess
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

from benchmarks.harness import RunningServer
from benchmarks.reliability.faults import (
    FaultWorkspace,
    index_state,
    staging_in_progress,
    store_state,
)
from indexing.index_store import IndexDirectory, IndexManifest, IndexVersion


@dataclass
class SwapOutcome:
    searches: int = 0
    search_failures: int = 0
    loads: int = 0
    load_failures: int = 0
    version_before: int = 0
    version_after: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            self.search_failures == 0
            and self.load_failures == 0
            and self.searches > 0
            and self.loads > 0
            and self.version_after > self.version_before
        )

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def _search_loop(
    base_url: str, queries: list[str], stop: threading.Event, out: SwapOutcome, lock: threading.Lock
) -> None:
    with httpx.Client(base_url=base_url, timeout=30) as client:
        i = 0
        while not stop.is_set():
            text = queries[i % len(queries)]
            i += 1
            try:
                response = client.post("/search", json={"text": text, "k": 10})
                error = None if response.status_code == 200 else f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            with lock:
                out.searches += 1
                if error:
                    out.search_failures += 1
                    out.failures.append(f"search {text!r}: {error}")


def _load_loop(
    ws: FaultWorkspace,
    fingerprint: str,
    stop: threading.Event,
    out: SwapOutcome,
    lock: threading.Lock,
) -> None:
    """Load ``current`` again and again, as a restarting server would, and query it."""
    directory = IndexDirectory(ws.workspace.index_dir)
    while not stop.is_set():
        try:
            version = IndexVersion.load(directory.require_current(), fingerprint)
            probe = version.listings.reconstruct(int(version.listings.ids()[0]))
            version.listings.search(probe, 5)
            version.lexical.search("chair", 5)
            error = None
        except Exception as exc:  # any failure to load a swapped-in version is the finding
            error = f"{type(exc).__name__}: {exc}"
        with lock:
            out.loads += 1
            if error:
                out.load_failures += 1
                out.failures.append(f"load: {error}")


def searches_during_swap(
    ws: FaultWorkspace, server: RunningServer, queries: list[str], threads: int = 4
) -> SwapOutcome:
    """Search (HTTP) and load ``current`` (disk) throughout a full reindex and its swap."""
    before = index_state(ws)
    out = SwapOutcome(version_before=before.version)
    lock, stop = threading.Lock(), threading.Event()
    workers = [
        threading.Thread(target=_search_loop, args=(server.base_url, queries, stop, out, lock))
        for _ in range(threads)
    ]
    workers.append(
        threading.Thread(target=_load_loop, args=(ws, before.fingerprint, stop, out, lock))
    )
    for worker in workers:
        worker.start()
    try:
        ws.reindex(full=True)
        time.sleep(0.5)  # keep searching across the moment the swap lands
    finally:
        stop.set()
        for worker in workers:
            worker.join()
    current = IndexDirectory(ws.workspace.index_dir).require_current()
    out.version_after = IndexManifest.read(current).version
    out.failures = out.failures[:10]
    return out


@dataclass
class WritesOutcome:
    created: list[str] = field(default_factory=list)
    updated: str = ""
    deleted: str = ""
    written_while_staging: bool = False  # the later writes began as it wrote the new version
    checks: dict[str, bool] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(self.checks.values()) and self.written_while_staging

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def _probe_title(n: int) -> str:
    return f"Reliability probe lamp quokka{n}z"


def _visible(
    client: httpx.Client,
    created: list[str],
    updated: tuple[str, str],
    deleted: str,
    out: WritesOutcome,
    where: str,
) -> None:
    """Record whether every write is visible through ``client``'s server."""
    for n, listing_id in enumerate(created):
        got = client.get(f"/listings/{listing_id}")
        out.checks[f"{where}: created {listing_id} readable"] = got.status_code == 200
        hits = client.post("/search", json={"text": _probe_title(n), "k": 5})
        ids = [r["id"] for r in hits.json().get("results", [])] if hits.status_code == 200 else []
        out.checks[f"{where}: created {listing_id} searchable"] = listing_id in ids
    listing_id, title = updated
    got = client.get(f"/listings/{listing_id}")
    out.checks[f"{where}: update of {listing_id} kept"] = (
        got.status_code == 200 and got.json().get("title") == title
    )
    out.checks[f"{where}: delete of {deleted} kept"] = (
        client.get(f"/listings/{deleted}").status_code == 404
    )


def _create(client: httpx.Client, n: int, out: WritesOutcome) -> None:
    body = {
        "title": _probe_title(n),
        "description": "written while reindexing",
        "price": 12.5,
        "location": "Testville",
        "category": "Home & Garden / Lamps",
    }
    response = client.post("/listings", json=body)
    if response.status_code == 201:
        out.created.append(response.json()["id"])
    else:
        out.problems.append(f"create: HTTP {response.status_code} {response.text[:200]}")


def writes_during_reindex(
    ws: FaultWorkspace, admin_key: str, listing_ids: list[str], n_creates: int = 3
) -> WritesOutcome:
    """Create/update/delete listings through the API while a full reindex runs; none is lost.

    ``listing_ids`` are existing listings of the workspace: the first is
    updated, the second deleted.
    """
    out = WritesOutcome(updated=listing_ids[0], deleted=listing_ids[1])
    headers = {"X-Admin-Key": admin_key}
    new_title = "Reliability probe: retitled during a reindex"
    env = {"MARKETPLACE_ADMIN_KEY": admin_key}
    with (
        ws.serve(**env) as server,
        httpx.Client(base_url=server.base_url, timeout=60, headers=headers) as client,
    ):
        reindex = subprocess.Popen(
            ws.reindex_command(full=True),
            env=ws.env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(1.0)  # past start-up, into the run
        _create(client, 0, out)  # most likely before the reindex reads the store
        # The rest while it writes the new version: they are in no snapshot it read.
        deadline = time.monotonic() + 900
        while reindex.poll() is None and time.monotonic() < deadline:
            if staging_in_progress(ws.workspace.index_dir):
                out.written_while_staging = True
                break
            time.sleep(0.002)
        for n in range(1, n_creates):
            _create(client, n, out)
        current = client.get(f"/listings/{out.updated}").json()
        update = {key: current[key] for key in ("description", "price", "location", "category")}
        response = client.put(
            f"/listings/{out.updated}",
            json={**update, "title": new_title, "image_ids": current["image_ids"]},
        )
        if response.status_code != 200:
            out.problems.append(f"update: HTTP {response.status_code} {response.text[:200]}")
        response = client.delete(f"/listings/{out.deleted}")
        if response.status_code != 204:
            out.problems.append(f"delete: HTTP {response.status_code} {response.text[:200]}")
        _, stderr = reindex.communicate(timeout=900)
        if reindex.returncode != 0:
            out.problems.append(f"reindex failed: {stderr.strip()[-300:]}")
        _visible(client, out.created, (out.updated, new_title), out.deleted, out, "running server")
    try:
        ws.reindex(full=False)  # the next reindex must not undo them either
    except RuntimeError as exc:
        out.problems.append(str(exc))
    integrity, _, _ = store_state(ws)
    out.checks["store integrity"] = integrity == "ok"
    with ws.serve(**env) as server, httpx.Client(base_url=server.base_url, timeout=60) as client:
        _visible(
            client,
            out.created,
            (out.updated, new_title),
            out.deleted,
            out,
            "restarted server after the next reindex",
        )
    out.checks["no errors on the way"] = not out.problems
    return out
