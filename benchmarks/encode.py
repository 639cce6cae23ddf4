"""Where a query's time goes: text encoding, photo encoding and index search.

Measured one query at a time, the way the service runs them, on the saved
model and the current index of a workspace. The HTTP benchmark
(``benchmarks.search``) measures whole requests; this one splits a request's work so
a slow request can be traced to its part.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.errors import BenchError
from benchmarks.harness import machine_info, percentiles, write_report
from multimodal.data.catalogue import CleanCatalogue


@dataclass(frozen=True)
class EncodeBenchConfig:
    queries: int = 200
    warmup: int = 5
    k: int = 10
    seed: int = 0
    torch_threads: int = 2
    engine: str = "auto"  # what runs the encoders (``multimodal.runtime``)


def _time_each(fn: Callable[[object], object], items: Sequence[object], warmup: int) -> list[float]:
    for item in items[:warmup]:
        fn(item)
    out = []
    for item in items:
        started = time.perf_counter()
        fn(item)
        out.append(time.perf_counter() - started)
    return out


def _open(path: Path) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")


def run_encode_bench(
    catalogue: CleanCatalogue, embedder, listing_index, config: EncodeBenchConfig
) -> dict[str, object]:
    """Latency of each stage over ``config.queries`` titles and photos of the catalogue.

    ``listing_index`` is the served listing ``VectorIndex``; searching it with
    real query vectors measures the index at its real size and kind.
    """
    rng = random.Random(config.seed)
    listings = [listing for listing in catalogue.listings if listing.title.strip()]
    texts = [listing.title for listing in rng.sample(listings, min(config.queries, len(listings)))]
    with_photo = [listing for listing in catalogue.listings if listing.image_ids]
    chosen = rng.sample(with_photo, min(config.queries, len(with_photo)))
    paths = [catalogue.image_path(listing.image_ids[0]) for listing in chosen]

    decode = _time_each(_open, paths, config.warmup)
    photos = [_open(path) for path in paths]
    stages = {
        "text_encode": _time_each(lambda t: embedder.embed_query(t, None), texts, config.warmup),
        "photo_decode": decode,
        "photo_encode": _time_each(lambda p: embedder.embed_query(None, p), photos, config.warmup),
        "text_and_photo_encode": _time_each(
            lambda pair: embedder.embed_query(pair[0], pair[1]),
            list(zip(texts, photos, strict=False)),
            config.warmup,
        ),
    }
    vectors = [np.asarray(embedder.embed_query(t, None), np.float32) for t in texts]
    stages["index_search"] = _time_each(
        lambda v: listing_index.search(v, config.k), vectors, config.warmup
    )
    return {
        "config": asdict(config),
        "machine": machine_info(),
        "model": {
            "fingerprint": embedder.fingerprint,
            "dim": embedder.dim,
            "engine": embedder.engine,
        },
        "index": {"kind": listing_index.kind, "size": len(listing_index)},
        "stages": {name: percentiles(seconds) for name, seconds in stages.items()},
    }


def summary_line(report: dict[str, object]) -> str:
    stages = report["stages"]
    parts = [f"{name} p50 {stats['p50_ms']:.1f} ms" for name, stats in stages.items()]
    return "encode: " + ", ".join(parts)


def run_encode_bench_on_workspace(
    data: Path, config: EncodeBenchConfig, reports_dir: Path
) -> dict[str, object]:
    """The bench on a dataset's saved model and current index; writes ``encode_bench.json``."""
    import torch

    from indexing.index_store import IndexDirectory, IndexMismatch, IndexNotFound
    from multimodal.bundle import BundleError
    from multimodal.data.catalogue import load_clean_catalogue
    from multimodal.embedder import Embedder
    from multimodal.workspace import Workspace

    workspace = Workspace.for_data(data)
    torch.set_num_threads(config.torch_threads)
    try:
        catalogue = load_clean_catalogue(workspace.clean_dir)
        embedder = Embedder.load(workspace.model_dir, engine=config.engine)
        version = IndexDirectory(workspace.index_dir).load_current(embedder.fingerprint)
    except (FileNotFoundError, BundleError, IndexNotFound, IndexMismatch) as exc:
        raise BenchError(str(exc).splitlines()[0]) from None
    report = run_encode_bench(catalogue, embedder, version.listings, config)
    write_report(report, reports_dir / "encode_bench.json", summary_line(report))
    return report
