"""``marketplace bench reliability``: hostile inputs, injected faults and a held load.

The full form of what ``tests/api/test_bad_input.py`` and
``tests/benchmarks/reliability`` check in a short form:

1. inputs: every probe of ``benchmarks.reliability.probes`` over HTTP to a real
   server, with the status code each got;
2. faults, on a scratch copy of the first ``--fault-listings`` listings with
   the dataset's own model (the dataset's workspace is never touched):
   reindexes SIGKILLed at random points and at the start of writing, searches
   and index loads during a swap, listing writes during a reindex, and a
   server started on a missing or mismatched model or index;
3. load: ``--seconds`` at ``--concurrency`` over loopback against the server
   on the dataset's own index: requests, errors, p50/p99, resident memory
   before and after.

Everything lands in ``reports/reliability.json``; the last line printed is a
one-line summary.
"""

from __future__ import annotations

import json
import secrets
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.errors import BenchError
from benchmarks.harness import free_port, write_report


@dataclass(frozen=True)
class ReliabilityConfig:
    data: Path  # raw data folder whose workspace holds the model and index
    seconds: float = 60.0  # load duration
    concurrency: int = 16  # concurrent load clients
    fault_listings: int = 300  # listings in the scratch fault workspace
    kills: int = 4  # reindexes killed at random points
    seed: int = 0
    reports_dir: Path = Path("reports")


def _say(message: str) -> None:
    print(f"reliability: {message}", file=sys.stderr, flush=True)


def run_reliability_bench(config: ReliabilityConfig) -> dict[str, Any]:
    """Inputs, faults and load; ``reliability.json`` written and summarised; ``ok`` says
    whether every check held."""
    from multimodal.workspace import Workspace

    if config.seconds <= 0 or config.concurrency < 1 or config.fault_listings < 10:
        raise BenchError("--seconds must be > 0, --concurrency >= 1, --fault-listings >= 10")
    if config.kills < 0:
        raise BenchError("--kills must be >= 0")
    workspace = Workspace.for_data(config.data)
    for needed, what in (
        (workspace.clean_dir / "listings.jsonl", "a cleaned catalogue (marketplace data clean)"),
        (workspace.model_dir / "manifest.json", "a model (marketplace train)"),
        (workspace.index_dir / "current", "an index (marketplace reindex)"),
    ):
        if not needed.exists():
            raise BenchError(f"the reliability benchmark needs {what}: {needed} is missing")
    started = time.perf_counter()
    report: dict[str, Any] = {"dataset": str(Path(config.data).resolve())}
    try:
        with tempfile.TemporaryDirectory(prefix="marketplace-reliability-") as scratch:
            report.update(_inputs_and_faults(workspace, Path(scratch), config))
        report["load"] = _load(config.data, workspace, config)
    except RuntimeError as exc:  # a reindex that would not run at all
        raise BenchError(str(exc).splitlines()[0]) from None
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["ok"] = _all_ok(report)
    write_report(report, config.reports_dir / "reliability.json", summary_line(report))
    return report


def _inputs_and_faults(workspace, scratch: Path, config: ReliabilityConfig) -> dict[str, Any]:
    import httpx
    from pydantic import SecretStr

    from api.security import user_token
    from api.settings import Settings
    from benchmarks.reliability.during_reindex import searches_during_swap, writes_during_reindex
    from benchmarks.reliability.faults import kill_campaign, subset_workspace
    from benchmarks.reliability.probes import ProbeContext, all_probes, run_probe
    from multimodal.data.catalogue import load_clean_catalogue

    admin_key, token_secret = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    env = {"MARKETPLACE_ADMIN_KEY": admin_key, "MARKETPLACE_USER_TOKEN_SECRET": token_secret}
    ws = subset_workspace(
        workspace.clean_dir, workspace.model_dir, scratch / "faults", config.fault_listings
    )
    _say(f"scratch workspace of {config.fault_listings} listings: first full reindex")
    ws.reindex(full=True)
    listings = load_clean_catalogue(ws.workspace.clean_dir).listings
    caps = Settings()
    ctx = ProbeContext(
        listing_id=listings[0].id,
        max_text_chars=caps.max_text_chars,
        max_body_bytes=caps.max_body_bytes,
        max_image_pixels=caps.max_image_pixels,
        admin_key=admin_key,
        user_token=user_token(SecretStr(token_secret), "probe-user"),
    )
    with ws.serve(**env) as server, httpx.Client(base_url=server.base_url, timeout=120) as client:
        _say("probing bad inputs")
        inputs = [run_probe(client, probe).as_dict() for probe in all_probes(ctx)]
        _say("searching through a reindex and its swap")
        swap = searches_during_swap(ws, server, [x.title for x in listings[:50]]).as_dict()
    _say(f"killing {config.kills} reindexes at random points and one as it starts writing")
    kills = kill_campaign(ws, config.kills, config.seed).as_dict()
    _say("writing listings through the API during a reindex")
    writes = writes_during_reindex(ws, admin_key, [listings[0].id, listings[1].id]).as_dict()
    _say("starting the server on a missing or mismatched model or index")
    refusals = _refusals(ws, scratch)
    return {
        "caps": {
            "max_body_bytes": caps.max_body_bytes,
            "max_image_bytes": caps.max_image_bytes,
            "max_image_pixels": caps.max_image_pixels,
            "min_image_side": caps.min_image_side,
            "max_text_chars": caps.max_text_chars,
        },
        "inputs": inputs,
        "faults": {
            "workspace": f"scratch copy: first {config.fault_listings} listings, same model",
            "killed_reindex": kills,
            "searches_during_swap": swap,
            "writes_during_reindex": writes,
            "refused_starts": refusals,
        },
    }


def _refusals(ws, scratch: Path) -> list[dict[str, Any]]:
    from benchmarks.reliability.faults import FaultWorkspace, serve_refusal
    from indexing.index_store import MANIFEST_FILE, IndexDirectory

    def copy(name: str) -> FaultWorkspace:
        target = FaultWorkspace(data_dir=ws.data_dir, home=scratch / name)
        shutil.copytree(ws.workspace.root, target.workspace.root, symlinks=True)
        return target

    no_model = copy("no-model")
    no_model.workspace.model_dir.unlink()
    no_index = copy("no-index")
    shutil.rmtree(no_index.workspace.index_dir)
    mismatched = copy("mismatched")
    current = IndexDirectory(mismatched.workspace.index_dir).require_current()
    manifest = json.loads((current / MANIFEST_FILE).read_text())
    manifest["model_fingerprint"] = "another-model"
    (current / MANIFEST_FILE).write_text(json.dumps(manifest))
    return [
        serve_refusal(target, case, free_port()).as_dict()
        for target, case in (
            (no_model, "missing model"),
            (no_index, "missing index"),
            (mismatched, "index built by another model"),
        )
    ]


def _load(data: Path, workspace, config: ReliabilityConfig) -> dict[str, Any]:
    from benchmarks.reliability.faults import FaultWorkspace, index_state
    from benchmarks.reliability.load import request_mix, run_load
    from multimodal.data.catalogue import load_clean_catalogue

    target = FaultWorkspace(data_dir=Path(data), home=workspace.home)
    state = index_state(target)
    catalogue = load_clean_catalogue(workspace.clean_dir)
    specs = request_mix(catalogue.listings, catalogue.image_dir, n_texts=2000, seed=config.seed)
    _say(
        f"load: {config.seconds:g} s at concurrency {config.concurrency} on index "
        f"v{state.version} ({state.count} listings)"
    )
    with target.serve() as server:
        result = run_load(
            server.base_url,
            specs,
            seconds=config.seconds,
            concurrency=config.concurrency,
            server_pid=server.pid,
            warmup_seconds=min(10.0, config.seconds / 6),
        )
    return {
        "index": {
            "path": str(workspace.index_dir),
            "version": state.version,
            "listings": state.count,
        },
        **result.as_dict(),
        "ok": result.errors == 0
        and result.rss_growth is not None
        and abs(result.rss_growth) <= 0.10,
    }


def _all_ok(report: dict[str, Any]) -> bool:
    faults = report["faults"]
    return (
        all(item["ok"] for item in report["inputs"])
        and faults["killed_reindex"]["ok"]
        and faults["searches_during_swap"]["ok"]
        and faults["writes_during_reindex"]["ok"]
        and all(item["ok"] for item in faults["refused_starts"])
        and report["load"]["ok"]
    )


def summary_line(report: dict[str, Any]) -> str:
    inputs = report["inputs"]
    faults = report["faults"]
    load = report["load"]
    kills = faults["killed_reindex"]["kills"]
    return (
        f"reliability: {sum(i['ok'] for i in inputs)}/{len(inputs)} bad inputs got a clear 4xx; "
        f"{sum(k['ok'] for k in kills)}/{len(kills)} killed reindexes left a loadable index "
        f"and an intact store; swap searches {faults['searches_during_swap']['searches']} "
        f"({faults['searches_during_swap']['search_failures']} failed); writes during reindex "
        f"{'kept' if faults['writes_during_reindex']['ok'] else 'LOST'}; "
        f"load {load['requests']} requests in {load['duration_s']} s at concurrency "
        f"{load['concurrency']}: {load['errors']} errors, p50 {load['p50_ms']} ms, "
        f"p99 {load['p99_ms']} ms, RSS {load['rss_before_mb']} -> {load['rss_after_mb']} MiB"
    )
