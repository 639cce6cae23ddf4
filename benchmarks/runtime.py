"""The encoders on each engine side by side: photo rate, text latency and throughput.

Measured in one run on one machine, the engines in interleaved order, round
after round (the machine may be shared: a burst of someone else's work then
hits every engine alike, and the best round of each is reported beside the
median). Per engine:

- photos/s from JPEG file to photo vector (decoding included), in batches as
  a reindex embeds them;
- a text query's latency at batch 1 (``embed_query``: tokenising included);
- texts/s for listing texts in batches;
- the cosine of each photo and text vector to torch in fp32.

Also the image model's FLOPs per photo (``torch.utils.flop_counter``) and the
machine's measured fp32 peak (a large GEMM on the same threads), so the photo
rate is reported as a share of the compute bound.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.errors import BenchError
from benchmarks.harness import fp32_peak, machine_info, percentiles, write_report
from benchmarks.runtime_engines import ENGINE_NAMES, load_engine

REFERENCE = "torch-fp32"


@dataclass(frozen=True)
class RuntimeBenchConfig:
    engines: tuple[str, ...] = ENGINE_NAMES
    photos: int = 128
    text_queries: int = 100
    text_batch: int = 256
    rounds: int = 3
    threads: int = 2
    seed: int = 0


def _decode(path: Path) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")


def photo_rate(embedder, paths: list[Path], batch: int) -> tuple[float, float, np.ndarray]:
    """Photos/s from file to vector, one batch decoded then embedded at a time, and
    the process's CPU seconds per photo (all its threads)."""
    started, cpu = time.perf_counter(), time.process_time()
    out = []
    for start in range(0, len(paths), batch):
        out.append(embedder.embed_images([_decode(p) for p in paths[start : start + batch]]))
    rate = len(paths) / (time.perf_counter() - started)
    return rate, (time.process_time() - cpu) / len(paths), np.concatenate(out)


def text_latencies(embedder, texts: list[str]) -> tuple[list[float], list[float]]:
    """Wall and process-CPU seconds of each text query, one at a time."""
    wall, cpu = [], []
    for text in texts:
        started, cpu_started = time.perf_counter(), time.process_time()
        embedder.embed_query(text, None)
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)
    return wall, cpu


def text_rate(embedder, texts: list[str]) -> tuple[float, np.ndarray]:
    started = time.perf_counter()
    vectors = embedder.embed_texts(texts)
    return len(texts) / (time.perf_counter() - started), vectors


def image_flops(model_dir: Path) -> int:
    """FLOPs of one photo through the image trunk, top and projection (fp32 torch)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from multimodal.bundle import load_model

    model, manifest, _ = load_model(model_dir)
    size = manifest.config.image.image_size
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model.photo_vectors(model.image.trunk(torch.zeros(1, 3, size, size)))
    return int(counter.get_total_flops())


def _cosines(vectors: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    cos = np.sum(vectors * reference, axis=1)
    return {"min": round(float(cos.min()), 6), "mean": round(float(cos.mean()), 6)}


def _material(catalogue, config: RuntimeBenchConfig) -> tuple[list[Path], list[str], list[str]]:
    rng = random.Random(config.seed)
    listings = [listing for listing in catalogue.listings if listing.title.strip()]
    with_photo = [listing for listing in listings if listing.image_ids]
    chosen = rng.sample(with_photo, min(config.photos, len(with_photo)))
    paths = [catalogue.image_path(listing.image_ids[0]) for listing in chosen]
    queries = [x.title for x in rng.sample(listings, min(config.text_queries, len(listings)))]
    texts = [
        f"{x.title}\n{x.description}"
        for x in rng.sample(listings, min(config.text_batch, len(listings)))
    ]
    return paths, queries, texts


def run_runtime_bench(catalogue, model_dir: Path, config: RuntimeBenchConfig) -> dict:
    """Every engine in ``config.engines``, interleaved over ``config.rounds`` rounds."""
    if REFERENCE not in config.engines:
        raise BenchError(f"the engines compared must include {REFERENCE} (the reference)")
    paths, queries, texts = _material(catalogue, config)
    runs: dict[str, dict[str, list]] = {}
    with tempfile.TemporaryDirectory(prefix="runtime-bench-") as scratch:
        engines = {
            name: load_engine(name, model_dir, config.threads, Path(scratch))
            for name in config.engines
        }
        photo_batch = next(iter(engines.values())).manifest.config.image.batch_size
        vectors: dict[str, dict[str, np.ndarray]] = {}
        for _ in range(config.rounds):
            for name, embedder in engines.items():
                embedder.embed_query(queries[0], _decode(paths[0]))  # warm
                run = runs.setdefault(
                    name, {"photo": [], "photo_cpu": [], "query": [], "query_cpu": [], "text": []}
                )
                rate, cpu_per_photo, photos = photo_rate(embedder, paths, photo_batch)
                run["photo"].append(rate)
                run["photo_cpu"].append(cpu_per_photo)
                wall, cpu = text_latencies(embedder, queries)
                run["query"].append(wall)
                run["query_cpu"].extend(cpu)
                rate, text_vectors = text_rate(embedder, texts)
                run["text"].append(rate)
                vectors[name] = {"photo": photos, "text": text_vectors}
    flops = image_flops(model_dir)
    peak = fp32_peak(config.threads)
    reference = vectors[REFERENCE]
    results = {}
    for name, run in runs.items():
        best_photo = max(run["photo"])
        results[name] = {
            "photos_per_s": {
                "best": round(best_photo, 1),
                "median": round(statistics.median(run["photo"]), 1),
            },
            "cpu_ms_per_photo": round(1000 * min(run["photo_cpu"]), 2),
            "text_query": percentiles(min(run["query"], key=lambda xs: float(np.median(xs)))),
            "text_query_cpu_p50_ms": round(1000 * float(np.median(run["query_cpu"])), 3),
            "texts_per_s": {
                "best": round(max(run["text"]), 1),
                "median": round(statistics.median(run["text"]), 1),
            },
            "compute_bound_share": round(flops * best_photo / peak, 3),
            "cosine_to_torch_fp32": {
                kind: _cosines(vectors[name][kind], reference[kind]) for kind in ("photo", "text")
            },
        }
    return {
        "config": asdict(config),
        "machine": machine_info(),
        "model": {"dir": str(model_dir), "photo_batch": photo_batch},
        "image_gflops_per_photo": round(flops / 1e9, 3),
        "fp32_peak_gflops": round(peak / 1e9, 1),
        "engines": results,
        "note": "photo rate includes JPEG decoding; engines interleaved round by round; "
        "best and median over rounds; text_query is the round with the lowest median; "
        "the CPU figures are the process's CPU time (all threads), which a shared machine "
        "inflates far less than wall time",
    }


def summary_line(report: dict) -> str:
    parts = []
    for name, r in report["engines"].items():
        parts.append(
            f"{name} {r['photos_per_s']['best']:.0f} photos/s "
            f"({100 * r['compute_bound_share']:.0f}% of peak), "
            f"query p50 {r['text_query']['p50_ms']:.1f} ms, {r['texts_per_s']['best']:.0f} texts/s"
        )
    return "runtime: " + "; ".join(parts)


def run_runtime_bench_on_workspace(
    data: Path, config: RuntimeBenchConfig, out: Path, model_dir: Path | None = None
) -> dict:
    """The bench on a dataset's cleaned catalogue and saved model; writes ``out``."""
    from multimodal.bundle import BundleError
    from multimodal.data.catalogue import load_clean_catalogue
    from multimodal.workspace import Workspace

    workspace = Workspace.for_data(data)
    unknown = set(config.engines) - set(ENGINE_NAMES)
    if unknown:
        raise BenchError(
            f"unknown engines {sorted(unknown)}; choose from {', '.join(ENGINE_NAMES)}"
        )
    try:
        catalogue = load_clean_catalogue(workspace.clean_dir)
        report = run_runtime_bench(catalogue, model_dir or workspace.model_dir, config)
    except (FileNotFoundError, BundleError) as exc:
        raise BenchError(str(exc).splitlines()[0]) from None
    write_report(report, out, summary_line(report))
    return report
