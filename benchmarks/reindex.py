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

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from benchmarks.errors import BenchError
from benchmarks.harness import cli_command, machine_info, save_report, write_report

DEFAULT_OUT = Path("reports/reindex_bench.json")
TARGETS = {"full_reindex_s": 600, "incremental_one_changed_s": 2.0, "re_embedded_unchanged": 0}


@dataclass(frozen=True)
class BenchConfig:
    data: Path
    out: Path = DEFAULT_OUT
    executors: tuple[str, ...] = ("local", "ray")
    limit: int | None = None  # only the first N listings, for a quick run
    cold_limit: int | None = None  # cold runs on the first N only (a time budget)
    batch_size: int = 32
    torch_threads: int = 2
    ray_actors: int = 2
    profile_listings: int = 96
    home: Path | None = None  # scratch workspaces (default: a temporary folder)
    model_dir: Path | None = None  # default: the dataset workspace's trained model
    cli: bool = True  # also time the incremental runs as the real command
    warm: bool = True  # also a full run reusing the training feature cache


def summary_line(report: dict) -> str:
    parts = [
        f"{name} {r['listings']} listings: {r['seconds']:.0f} s ({r['listings_per_s']:.1f} "
        f"listings/s, {r['photos_per_s']:.1f} photos/s)"
        for name, r in report["full"].items()
    ]
    inc = report.get("incremental")
    if inc:
        one = inc["one_changed"]
        figures = [f"{one['model_loaded_s']:.2f} s model in memory", f"{one['in_process_s']:.2f} s"]
        if "cli_s" in one:
            figures.append(f"{one['cli_s']:.2f} s as a command")
        parts.append(f"1 changed: {' / '.join(figures)}")
        parts.append(f"nothing changed: {inc['no_change']['embedded']} re-embedded")
    return "reindex bench: " + "; ".join(parts)


def _scratch_workspace(source, home: Path, listings, model_dir: Path):
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
    workspace.model_dir.symlink_to(model_dir.resolve())
    return workspace


def _timed_reindex(workspace, config, mapper=None) -> tuple[float, object]:
    from indexing.reindex.runner import reindex_workspace

    started = time.perf_counter()
    _, summary = reindex_workspace(workspace, config, mapper)
    return time.perf_counter() - started, summary


def _timed_cli(workspace) -> float:
    """Wall time of ``marketplace reindex`` on the scratch workspace, as a user runs it."""
    env = {**os.environ, "MARKETPLACE_HOME": str(workspace.home)}
    command = cli_command("reindex", "--data", str(workspace.data_dir), "--quiet")
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise BenchError(f"marketplace reindex failed: {result.stderr.strip()[-500:]}")
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
    """Every run, the report saved to ``config.out`` after each, and its summary printed."""
    try:
        report = _run_bench(config)
    except (FileNotFoundError, ImportError, ValueError) as exc:  # e.g. an unloadable model
        raise BenchError(str(exc).splitlines()[0]) from exc
    write_report(report, config.out, summary_line(report))
    return report


def _run_bench(config: BenchConfig) -> dict:
    from indexing.config import ReindexConfig
    from multimodal.data.catalogue import load_clean_catalogue
    from multimodal.workspace import Workspace

    source = Workspace.for_data(config.data)
    catalogue = load_clean_catalogue(source.clean_dir)
    model_dir = config.model_dir or source.model_dir
    if not (model_dir / "manifest.json").is_file():
        raise FileNotFoundError(f"no model at {model_dir}: run `marketplace train` first")
    if "ray" in config.executors:
        import ray  # noqa: F401  (fail before the long local run, not after it)
    listings = list(catalogue.listings[: config.limit] if config.limit else catalogue.listings)
    cold = listings[: config.cold_limit] if config.cold_limit else listings
    home = config.home or Path(tempfile.mkdtemp(prefix="reindex-bench-"))
    base = ReindexConfig(
        batch_size=config.batch_size,
        torch_threads=config.torch_threads,
        ray_actors=config.ray_actors,
        ray_cpus_per_actor=max(1.0, 2 / config.ray_actors),
        progress=sys.stderr.isatty(),
    )
    model = json.loads((model_dir / "manifest.json").read_text())
    report: dict = {
        "benchmark": "reindex",
        # with the load average at the start: other jobs skew the rates
        "machine": {**machine_info(), "torch_threads": config.torch_threads},
        "data": {"dir": str(config.data), "listings": len(listings), "photos": _photos(listings)},
        "model": {
            "dir": str(model_dir),
            "fingerprint": model["fingerprint"],
            "backbones": model["backbones"],
            "image_size": model["config"]["image"]["image_size"],
        },
        "config": {
            k: v for k, v in asdict(config).items() if k not in {"data", "out", "home", "model_dir"}
        },
        "targets": TARGETS,
        "full": {},
    }

    def full_run(name: str, subset: list, run_config: ReindexConfig, note: str) -> object:
        workspace = _scratch_workspace(source, home / name, subset, model_dir)
        seconds, summary = _timed_reindex(workspace, run_config)
        report["full"][name] = {
            "listings": len(subset),
            "photos": _photos(subset),
            "seconds": round(seconds, 1),
            "listings_per_s": round(len(subset) / seconds, 2),
            "photos_per_s": round(_photos(subset) / seconds, 2),
            "projected_full_catalogue_s": round(seconds * len(listings) / len(subset), 1),
            "embedded": summary.embedded,
            "embedded_photos": summary.embedded_photos,
            "index_kind": summary.kind,
            "summary": summary.line(),
            "note": note,
        }
        save_report(report, config.out)
        return workspace

    whole = None  # a workspace indexed over the whole catalogue, for the incremental runs
    for executor in config.executors:
        note = "cold: empty store, embedding cache and no feature cache"
        if executor == "ray":
            note += (
                f"; Ray Data on a local Ray with {base.ray_num_cpus} CPUs, "
                f"{config.ray_actors} encoder actor(s)"
            )
        run_config = replace(base, executor=executor)
        if executor == "ray":  # the cores are shared out between the actors
            run_config = replace(
                run_config, torch_threads=max(1, config.torch_threads // config.ray_actors)
            )
        workspace = full_run(executor, cold, run_config, note)
        whole = workspace if len(cold) == len(listings) else whole
    if config.warm and source.features_dir.is_dir():
        warm = replace(
            base, executor="local", features_dir=source.features_dir, features_min_items=1
        )
        note = "warm: frozen-layer outputs read from the feature cache training filled"
        whole = full_run("local_feature_cache", listings, warm, note)
    if whole is not None:
        report["incremental"] = incremental_runs(whole, listings, base, model_dir, config)
        save_report(report, config.out)
    report["profile"] = profile_embedding(
        model_dir,
        source.clean_dir / "images",
        listings[: config.profile_listings],
        config.torch_threads,
    )
    save_report(report, config.out)
    if config.home is None:
        shutil.rmtree(home, ignore_errors=True)
    return report


def _photos(listings) -> int:
    return sum(len(x.image_ids) for x in listings)


def incremental_runs(workspace, listings, base, model_dir: Path, config: BenchConfig) -> dict:
    """Nothing changed, then one listing's title edited, on an up-to-date full index."""
    from indexing.reindex.mapper import Mapper

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
    mapper = Mapper.load(model_dir, config.torch_threads)
    edited = _edit_one(workspace, edited, "(edited again)")
    seconds, summary = _timed_reindex(workspace, local, mapper)
    inc["one_changed"]["model_loaded_s"] = round(seconds, 3)
    inc["one_changed"]["model_loaded_note"] = "the model already in memory: the pipeline alone"
    if config.cli:
        inc["no_change"]["cli_s"] = round(_timed_cli(workspace), 3)
        _edit_one(workspace, edited, "(edited once more)")
        inc["one_changed"]["cli_s"] = round(_timed_cli(workspace), 3)
        inc["one_changed"]["cli_note"] = "fresh process: interpreter, torch import, model load"
    return inc
