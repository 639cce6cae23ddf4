"""``marketplace bench reindex-memory``: the Ray reindex driver's peak memory at catalogue scale.

For each size (100k and 1M listings by default), side by side in one run:
synthetic text-only listings (no photos) are written to a cleaned catalogue
file and synced into a fresh store, then each run syncs that file again (as
``marketplace reindex`` does) and runs one full ``--executor ray`` reindex, in a
process of its own with a tiny
model (a randomly initialised two-layer BERT with the MiniLM tokenizer, the
word channel, built here: nothing is trained), and the figures are taken:

- the driver's peak RSS (its Ray workers are other processes, not counted),
  and its peak by the end of the sync;
- the final index version's size on disk, and the peak minus that size
  (target: at most 1 GiB at 1M listings);
- the run's wall time.

At the sizes in ``cached_sizes`` (1M by default) every run's vectors are first seeded
in the embedding cache (``seed_cache``), so the encoders do not run: the
driver's work and memory are those of a full run, without the hours the
encoders would take on a shared two-core machine.

``--baseline-code DIR`` runs the same reindex with another tree's code as
well (a copy of the code before the driver streamed, say), for comparison.
Figures go to ``reports/reindex_memory.json``; nothing is asserted.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmarks.errors import BenchError
from benchmarks.harness import machine_info, save_report, write_report

DEFAULT_OUT = Path("reports/reindex_memory.json")
DRIVER = Path(__file__).with_name("reindex_driver.py")
CODE_ROOT = Path(__file__).resolve().parent.parent
GIB = 2**30
TARGET_OVER_INDEX_BYTES = GIB  # at 1M listings: peak RSS <= index size + 1 GiB

_ADJECTIVES = [
    "red",
    "blue",
    "green",
    "black",
    "white",
    "vintage",
    "large",
    "small",
    "wooden",
    "leather",
    "steel",
    "new",
    "used",
]
_ITEMS = [
    "bike",
    "sofa",
    "table",
    "lamp",
    "jacket",
    "phone",
    "camera",
    "guitar",
    "drill",
    "kettle",
    "desk",
    "chair",
    "boots",
]
_WORDS = [
    "good",
    "condition",
    "collection",
    "only",
    "smoke",
    "free",
    "home",
    "barely",
    "used",
    "with",
    "box",
    "original",
    "receipt",
    "minor",
    "scratches",
    "works",
    "perfectly",
    "cash",
    "on",
    "pickup",
    "delivery",
    "possible",
]
_ROOTS = ("Home", "Leisure", "Fashion", "Tools")


@dataclass(frozen=True)
class MemoryBenchConfig:
    sizes: tuple[int, ...] = (100_000, 1_000_000)
    out: Path = DEFAULT_OUT
    home: Path | None = None  # scratch stores and indexes (default: a temporary folder)
    batch_size: int = 256
    shard_rows: int = 10_000
    ray_actors: int = 1
    ray_num_cpus: int = 2
    embed_dim: int = 256
    # exact vectors at every size: an HNSW graph over 1M vectors takes this shared
    # 2-core machine far longer to build than the reindex itself ("default": as served)
    index: str = "exact"
    baseline_code: Path | None = None  # another tree's code, measured on the same stores
    baseline_sizes: tuple[int, ...] = (100_000,)
    # sizes whose vectors are seeded in the embedding cache first (``seed_cache``)
    cached_sizes: tuple[int, ...] = (1_000_000,)


def synthetic_listings(count: int) -> Iterator:
    """``count`` text-only listings, deterministic, in four roots of three subcategories."""
    from multimodal.data.catalogue import Listing

    for i in range(count):
        adjective, item = _ADJECTIVES[i % len(_ADJECTIVES)], _ITEMS[(i // 7) % len(_ITEMS)]
        words = [_WORDS[(i * 7 + k * 3) % len(_WORDS)] for k in range(6)]
        root = _ROOTS[i % len(_ROOTS)]
        yield Listing(
            id=f"s{i}",
            title=f"{adjective} {item} {i}",
            description=" ".join(words),
            price=float(5 + i % 500),
            location=f"Town {i % 97}",
            category_path=(root, f"{root} {i % 3}"),
            currency="EUR",
        )


def build_tiny_model(directory: Path, embed_dim: int) -> Path:
    """A saved bundle of untrained tiny encoders: fast, and the vectors' size is real."""
    from benchmarks.random_models import random_bert
    from multimodal.bundle import new_model, save_bundle
    from multimodal.config import (
        FusionConfig,
        ImageEncoderConfig,
        ModelConfig,
        TextEncoderConfig,
        WordConfig,
    )
    from multimodal.data.labels import LabelEncoder
    from multimodal.encoders.text import resolve_model_dir

    bert = random_bert(
        resolve_model_dir("minilm"),
        directory / "tiny-bert",
        hidden=32,
        layers=2,
        heads=2,
        intermediate=64,
        max_positions=128,
    )
    cfg = ModelConfig(
        text=TextEncoderConfig(model=str(bert), max_tokens=32, trainable_layers=1),
        image=ImageEncoderConfig(backbone="efficientnet-lite0", image_size=64),
        fusion=FusionConfig(embed_dim=embed_dim),
        word=WordConfig(n_features=2**10),
    )
    labels = LabelEncoder(_ROOTS)
    model_dir = directory / "model"
    save_bundle(model_dir, new_model(cfg, len(labels)), cfg, labels, {}, {}, {})
    return model_dir


def fill_store(path: Path, image_dir: Path, clean_dir: Path, count: int) -> float:
    """A fresh store of ``count`` synthetic listings, synced from a cleaned catalogue file
    in ``clean_dir`` that each run syncs again (finding it unchanged, as a reindex after
    API writes does); returns the seconds it took."""
    from indexing.reindex.reader import sync_catalogue
    from indexing.store import Store
    from multimodal.data.catalogue import LISTINGS_FILE, write_listings

    started = time.perf_counter()
    write_listings(clean_dir / LISTINGS_FILE, synthetic_listings(count))
    partial = path.with_name(f"{path.name}.partial")  # a killed fill is never taken as done
    partial.unlink(missing_ok=True)
    with Store(partial, image_dir=image_dir) as store:
        sync_catalogue(store, clean_dir)
    partial.rename(path)
    return time.perf_counter() - started


def seed_cache(store_path: Path, image_dir: Path, cache_path: Path, model_dir: Path) -> float:
    """Random unit vectors in the embedding cache for every listing of the store.

    A reindex then takes every vector from the cache, so the encoders never run
    while the driver does all it does in a full run (read, stream the shards in,
    build and write every part): its memory, measured without the hours a
    million listings take the encoders on two shared cores.
    """
    import numpy as np

    from indexing.embedding_cache import LISTING, EmbeddingCache
    from indexing.reindex.mapper import read_model_identity
    from indexing.reindex.reader import iter_pages, store_connect
    from indexing.store import Store

    started = time.perf_counter()
    model = read_model_identity(model_dir)
    with Store(store_path, image_dir=image_dir) as store:
        # in key order: the cache's B-tree grows by appending, not by random page splits
        keys = sorted(
            row.content_hash for page in iter_pages(store_connect(store), 20_000) for row in page
        )
    cache = EmbeddingCache(cache_path, model.fingerprint, model.dim)
    rng = np.random.default_rng(0)
    for start in range(0, len(keys), 50_000):
        chunk = keys[start : start + 50_000]
        vectors = rng.standard_normal((len(chunk), model.dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        cache.put(LISTING, dict(zip(chunk, vectors, strict=True)))
    cache.close()
    return time.perf_counter() - started


def _size_on_disk(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())


def run_driver(code_root: Path, args: dict) -> dict:
    """One reindex in a fresh process running ``code_root``'s code; its figures."""
    env = {**os.environ, "PYTHONPATH": str(code_root)}
    result = subprocess.run(
        [sys.executable, str(DRIVER), json.dumps(args)],
        env=env,
        cwd=code_root,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise BenchError(f"the reindex driver failed: {result.stderr.strip()[-800:]}")
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    size = _size_on_disk(Path(figures.pop("version_dir")))
    peak = max(figures["driver_peak_rss_bytes"], figures["driver_vm_hwm_bytes"])
    return {
        **figures,
        "driver_sync_peak_gib": round(figures["driver_sync_peak_rss_bytes"] / GIB, 3),
        "index_bytes": size,
        "driver_peak_minus_index_bytes": peak - size,
        "driver_peak_gib": round(peak / GIB, 3),
        "index_gib": round(size / GIB, 3),
        "within_target": peak <= size + TARGET_OVER_INDEX_BYTES,
    }


def summary_line(report: dict) -> str:
    parts = []
    for name, run in report["runs"].items():
        parts.append(
            f"{name}: driver peak {run['driver_peak_gib']:.2f} GiB (sync "
            f"{run['driver_sync_peak_gib']:.2f} GiB), index "
            f"{run['index_gib']:.2f} GiB, {run['seconds']:.0f} s"
        )
    return "reindex memory: " + "; ".join(parts)


def run_bench(config: MemoryBenchConfig) -> dict:
    """Every size (and the baseline), the report saved after each run and summarised."""
    try:
        import ray  # noqa: F401
    except ImportError:
        raise BenchError("this benchmark needs Ray: pip install '.[distributed]'") from None
    home = config.home or Path(tempfile.mkdtemp(prefix="reindex-memory-"))
    home.mkdir(parents=True, exist_ok=True)
    index = {} if config.index == "default" else {"exact_max_size": 2**62}
    report: dict = {
        "benchmark": "reindex_memory",
        "machine": machine_info(),
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()},
        "target": "at 1M listings, driver peak RSS <= final index size + 1 GiB",
        "runs": {},
    }
    model_dir = build_tiny_model(home, config.embed_dim)
    images = home / "images"  # text-only listings: an empty photo folder
    images.mkdir(exist_ok=True)
    for size in config.sizes:
        store, clean_dir = home / f"store-{size}.sqlite", home / f"clean-{size}"
        if not store.exists():
            report.setdefault("store_fill_s", {})[str(size)] = round(
                fill_store(store, images, clean_dir, size), 1
            )
        runs = [("streamed", CODE_ROOT)]
        if config.baseline_code and size in config.baseline_sizes:
            runs.append(("baseline", config.baseline_code.resolve()))
        for name, code in runs:
            index_root = home / f"index-{name}-{size}"
            shutil.rmtree(index_root, ignore_errors=True)
            cached = size in config.cached_sizes
            key = f"{name}_{size}" + ("_cached" if cached else "")
            if cached:
                report.setdefault("cache_seed_s", {})[key] = round(
                    seed_cache(store, images, index_root / "embeddings.sqlite", model_dir), 1
                )
            args = {
                "store": str(store),
                "clean_dir": str(clean_dir),
                "images": str(images),
                "index_root": str(index_root),
                "model_dir": str(model_dir),
                "config": {
                    "executor": "ray",
                    "full": not cached,
                    "batch_size": config.batch_size,
                    "shard_rows": config.shard_rows,
                    "ray_actors": config.ray_actors,
                    "ray_num_cpus": config.ray_num_cpus,
                    "torch_threads": 1,
                    "precision": "fp32",
                    "progress": False,
                },
                "index": index,
            }
            report["runs"][key] = {"listings": size, **run_driver(code, args)}
            save_report(report, config.out)
            shutil.rmtree(index_root, ignore_errors=True)
    write_report(report, config.out, summary_line(report))
    if config.home is None:
        shutil.rmtree(home, ignore_errors=True)
    return report
