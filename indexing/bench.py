"""``marketplace bench reindex``: how long indexing the catalogue takes, and where the time goes.

In one run, on copies of the dataset's workspace (the real one is only read):

- a cold full reindex with each executor (local, then Ray), side by side:
  wall seconds, listings/s and photos/s, from an empty store and cache;
- incremental runs on the local copy: nothing changed, then one listing's
  title edited, each timed in-process (the pipeline alone) and as the
  ``marketplace reindex`` command a user runs (interpreter, imports and model
  load included);
- a profile of the embedding on a sample: JPEG decode, photo preprocessing,
  the image encoder and the text encoder, each in items per second.

Figures go to ``reports/reindex_bench.json``; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

DEFAULT_OUT = Path("reports/reindex_bench.json")
TARGETS = {"full_reindex_s": 600, "incremental_one_changed_s": 2.0, "re_embedded_unchanged": 0}


@dataclass(frozen=True)
class BenchConfig:
    data: Path
    out: Path = DEFAULT_OUT
    executors: tuple[str, ...] = ("local", "ray")
    limit: int | None = None  # only the first N listings, for a quick run
    batch_size: int = 32
    torch_threads: int = 2
    ray_actors: int = 2
    profile_listings: int = 96
    home: Path | None = None  # scratch workspaces (default: a temporary folder)
    cli: bool = True  # also time the incremental runs as the real command
    warm: bool = True  # also a full run reusing the training feature cache


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "reindex", help="full reindex local vs ray, and incremental runs → " + str(DEFAULT_OUT)
    )
    parser.add_argument(
        "--data",
        type=Path,
        help="raw data folder whose workspace holds the cleaned catalogue and model "
        "(default: MARKETPLACE_DATA, else ../shared/marketplace)",
    )
    parser.add_argument("--executors", default="local,ray", help="comma-separated, in order")
    parser.add_argument("--limit", type=int, help="only the first N listings (a quick run)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--ray-actors", type=int, default=2)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--home", type=Path, help="scratch folder (default: temporary)")
    parser.add_argument(
        "--no-warm", action="store_true", help="skip the run reusing the training feature cache"
    )
    parser.set_defaults(handler=run_cli)


def run_cli(args: argparse.Namespace) -> int:
    from multimodal.workspace import default_data_dir
    from scripts.errors import CliError

    executors = tuple(e.strip() for e in args.executors.split(",") if e.strip())
    unknown = set(executors) - {"local", "ray"}
    if unknown or not executors:
        raise CliError(f"--executors takes local and/or ray, not {args.executors!r}")
    config = BenchConfig(
        data=args.data or default_data_dir()[0],
        out=args.out,
        executors=executors,
        limit=args.limit,
        batch_size=args.batch_size,
        ray_actors=args.ray_actors,
        home=args.home,
        warm=not args.no_warm,
    )
    try:
        report = run_bench(config)
    except (FileNotFoundError, ImportError) as exc:
        raise CliError(str(exc)) from exc
    print(summary_line(report))
    return 0


def summary_line(report: dict) -> str:
    parts = [
        f"{name}: {r['seconds']:.0f} s ({r['listings_per_s']:.1f} listings/s, "
        f"{r['photos_per_s']:.1f} photos/s)"
        for name, r in report["full"].items()
    ]
    inc = report["incremental"]
    one = inc["one_changed"]
    figures = [f"{one['model_loaded_s']:.2f} s model in memory", f"{one['in_process_s']:.2f} s"]
    if "cli_s" in one:
        figures.append(f"{one['cli_s']:.2f} s as a command")
    parts.append(f"1 changed: {' / '.join(figures)}")
    parts.append(f"nothing changed: {inc['no_change']['embedded']} re-embedded")
    return f"reindex bench ({report['data']['listings']} listings): " + "; ".join(parts)


def _save(report: dict, out: Path) -> None:
    """Written after every stage, so a long run that is stopped keeps what it measured."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")


def _scratch_workspace(source, home: Path, listings):
    """A workspace for ``source.data_dir`` under ``home``: own store, index and cache;
    the photos and the model are links to the source's, the listings a copy."""
    from multimodal.data.catalogue import IMAGES_DIR, LISTINGS_FILE, write_listings
    from multimodal.workspace import Workspace

    if home.exists():
        shutil.rmtree(home)
    workspace = Workspace.for_data(source.data_dir, home=home)
    workspace.clean_dir.mkdir(parents=True)
    write_listings(workspace.clean_dir / LISTINGS_FILE, listings)
    (workspace.clean_dir / IMAGES_DIR).symlink_to((source.clean_dir / IMAGES_DIR).resolve())
    workspace.model_dir.symlink_to(source.model_dir.resolve())
    return workspace


def _timed_reindex(workspace, config, mapper=None) -> tuple[float, object]:
    from indexing.reindex.runner import reindex_workspace

    started = time.perf_counter()
    _, summary = reindex_workspace(workspace, config, mapper)
    return time.perf_counter() - started, summary


def _timed_cli(workspace) -> float:
    """Wall time of ``marketplace reindex`` on the scratch workspace, as a user runs it."""
    env = {**os.environ, "MARKETPLACE_HOME": str(workspace.home)}
    command = [sys.executable, "-m", "scripts.cli", "reindex", "--data", str(workspace.data_dir)]
    started = time.perf_counter()
    result = subprocess.run([*command, "--quiet"], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"marketplace reindex failed: {result.stderr.strip()[-500:]}")
    return seconds


def _edit_one(workspace, listings, suffix: str):
    from multimodal.data.catalogue import LISTINGS_FILE, write_listings

    edited = [replace(listings[0], title=f"{listings[0].title} {suffix}"), *listings[1:]]
    write_listings(workspace.clean_dir / LISTINGS_FILE, edited)
    return edited


def profile_embedding(model_dir: Path, image_dir: Path, listings, threads: int) -> dict:
    """Items/s of each stage on a sample, to show where a full reindex spends its time."""
    import torch

    from indexing.reindex.mapper import Mapper, load_photos
    from indexing.reindex.reader import Item
    from multimodal.data.transforms import eval_transform

    torch.set_num_threads(threads)
    started = time.perf_counter()
    mapper = Mapper.load(model_dir, threads)
    load_s = time.perf_counter() - started
    embedder = mapper.embedder
    items = [
        Item(i, "", x.text, (), (), tuple(str(image_dir / f"{p}.jpg") for p in x.image_ids))
        for i, x in enumerate(listings)
    ]

    def rate(n: int, fn) -> float:
        t = time.perf_counter()
        fn()
        return round(n / (time.perf_counter() - t), 1)

    photos = load_photos(items)
    flat = [p for own in photos for p in own]
    preprocess = eval_transform(
        embedder.manifest.config.image.image_size, embedder.model.image.normalise
    )
    texts = [item.text for item in items]
    with torch.inference_mode():
        figures = {
            "sample_listings": len(items),
            "sample_photos": len(flat),
            "model_load_s": round(load_s, 2),
            "jpeg_decode_photos_per_s": rate(len(flat), lambda: load_photos(items)),
            "preprocess_photos_per_s": rate(len(flat), lambda: [preprocess(p) for p in flat]),
            "image_encoder_photos_per_s": rate(len(flat), lambda: embedder.embed_images(flat)),
            "text_encoder_listings_per_s": rate(len(texts), lambda: embedder.embed_texts(texts)),
            "mapper_listings_per_s": rate(len(items), lambda: mapper(items, photos)),
        }
    figures["image_encoder_includes_preprocess"] = True
    return figures


def run_bench(config: BenchConfig) -> dict:
    from indexing.config import ReindexConfig
    from indexing.reindex.mapper import Mapper
    from multimodal.data.catalogue import load_clean_catalogue
    from multimodal.workspace import Workspace

    source = Workspace.for_data(config.data)
    catalogue = load_clean_catalogue(source.clean_dir)
    if not (source.model_dir / "manifest.json").is_file():
        raise FileNotFoundError(f"no model at {source.model_dir}: run `marketplace train` first")
    if "ray" in config.executors:
        import ray  # noqa: F401  (fail before the long local run, not after it)
    listings = list(catalogue.listings[: config.limit] if config.limit else catalogue.listings)
    photos = sum(len(x.image_ids) for x in listings)
    home = config.home or Path(tempfile.mkdtemp(prefix="reindex-bench-"))
    base = ReindexConfig(
        batch_size=config.batch_size,
        torch_threads=config.torch_threads,
        ray_actors=config.ray_actors,
        ray_cpus_per_actor=max(1.0, 2 / config.ray_actors),
        progress=sys.stderr.isatty(),
    )
    model = json.loads((source.model_dir / "manifest.json").read_text())
    report: dict = {
        "benchmark": "reindex",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "torch_threads": config.torch_threads,
            "platform": platform.platform(),
            "python": platform.python_version(),
            "note": "CPU shared with other processes during the run",
        },
        "data": {"dir": str(config.data), "listings": len(listings), "photos": photos},
        "model": {"fingerprint": model["fingerprint"], "backbones": model["backbones"]},
        "config": {k: v for k, v in asdict(config).items() if k not in {"data", "out", "home"}},
        "targets": TARGETS,
        "full": {},
    }
    workspaces = {}
    for executor in config.executors:
        workspace = _scratch_workspace(source, home / executor, listings)
        workspaces[executor] = workspace
        seconds, summary = _timed_reindex(workspace, replace(base, executor=executor))
        report["full"][executor] = {
            "seconds": round(seconds, 1),
            "listings_per_s": round(len(listings) / seconds, 1),
            "photos_per_s": round(photos / seconds, 1),
            "embedded": summary.embedded,
            "embedded_photos": summary.embedded_photos,
            "index_kind": summary.kind,
            "summary": summary.line(),
        }
        if executor == "ray":
            report["full"][executor]["ray"] = {
                "actors": config.ray_actors,
                "cpus": base.ray_num_cpus,
                "cpus_per_actor": base.ray_cpus_per_actor,
            }
        _save(report, config.out)
    if config.warm and source.features_dir.is_dir():
        # Warm: the frozen layers' outputs come from the cache training filled.
        workspace = _scratch_workspace(source, home / "warm", listings)
        warm = replace(base, executor="local", features_dir=source.features_dir)
        seconds, summary = _timed_reindex(workspace, warm)
        report["full"]["local_feature_cache"] = {
            "seconds": round(seconds, 1),
            "listings_per_s": round(len(listings) / seconds, 1),
            "photos_per_s": round(photos / seconds, 1),
            "embedded": summary.embedded,
            "embedded_photos": summary.embedded_photos,
            "index_kind": summary.kind,
            "summary": summary.line(),
            "note": "warm: frozen-layer outputs read from the training feature cache",
        }
        _save(report, config.out)

    workspace = workspaces.get("local") or next(iter(workspaces.values()))
    local = replace(base, executor="local", progress=False)
    inc: dict = {}
    seconds, summary = _timed_reindex(workspace, local)
    inc["no_change"] = {"in_process_s": round(seconds, 3), "embedded": summary.embedded}
    edited = _edit_one(workspace, listings, "(edited)")
    seconds, summary = _timed_reindex(workspace, local)
    inc["one_changed"] = {
        "in_process_s": round(seconds, 3),
        "embedded": summary.embedded,
        "summary": summary.line(),
        "note": "in-process, the run loads the model from disk (torch already imported)",
    }
    mapper = Mapper.load(source.model_dir, config.torch_threads)
    edited = _edit_one(workspace, edited, "(edited again)")
    seconds, summary = _timed_reindex(workspace, local, mapper)
    inc["one_changed"]["model_loaded_s"] = round(seconds, 3)
    inc["one_changed"]["model_loaded_note"] = "the model already in memory: the pipeline alone"
    if config.cli:
        inc["no_change"]["cli_s"] = round(_timed_cli(workspace), 3)
        _edit_one(workspace, edited, "(edited once more)")
        inc["one_changed"]["cli_s"] = round(_timed_cli(workspace), 3)
        inc["one_changed"]["cli_note"] = "fresh process: interpreter, torch import, model load"
    report["incremental"] = inc
    _save(report, config.out)
    report["profile"] = profile_embedding(
        source.model_dir,
        source.clean_dir / "images",
        listings[: config.profile_listings],
        config.torch_threads,
    )
    _save(report, config.out)
    if config.home is None:
        shutil.rmtree(home, ignore_errors=True)
    return report
