"""The search benchmark: latency and throughput through real HTTP, and a 1M-vector scale run.

``run_http_bench`` starts ``marketplace serve`` in a subprocess on loopback
(one uvicorn worker, exactly as deployed), records the time from spawning it
to the first 200 from ``/readyz`` (``start_to_ready_s``), and then measures
from a client in this process:

- latency (p50/p95/p99) of text, photo and text+photo queries, one at a time;
  each text query is a distinct string, so the server's query-embedding cache
  never answers it (a repeated-query pass is reported separately);
- throughput at concurrency 1, 4 and 16 for a fixed time each, with fresh
  query strings, counting every non-200 or failed request as an error.

``run_scale_bench`` answers "what if the catalogue had a million listings":
the real model embeds real text queries, and the vector index the server
would build at that size (approximate, ``IndexConfig`` defaults) searches one
million clustered synthetic vectors; recall@10 is measured against exact
search on the same vectors. It runs in-process (no HTTP, no BM25): it isolates
what grows with the catalogue.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import random
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import httpx
import numpy as np

from api.settings import Settings
from benchmarks.errors import BenchError
from benchmarks.harness import machine_info, percentiles, serve, write_report
from evaluation.metrics import recall_at_k

TARGETS = {
    "text_p50_ms": 15.0,
    "text_p99_ms": 50.0,
    "photo_p50_ms": 120.0,
    "text_qps_at_16": 100.0,
    "scale_text_p50_ms": 30.0,
    "scale_recall_at_10": 0.95,
}


@dataclass(frozen=True)
class HttpBenchConfig:
    latency_text: int = 300
    latency_photo: int = 60
    latency_both: int = 60
    throughput_texts: int = 100  # at least this many strings left unseen for throughput
    concurrency: tuple[int, ...] = (1, 4, 16)
    seconds_per_level: float = 10.0
    k: int = 20
    startup_timeout_s: float = 600.0
    seed: int = 0
    engine: str | None = None  # the server's MARKETPLACE_ENGINE; None: the environment's


@dataclass(frozen=True)
class ScaleBenchConfig:
    size: int = 1_000_000
    queries: int = 200
    k: int = 10
    seed: int = 0
    approximate: str | None = None  # "hnsw" or "ivf"; None: what the server would build


# -- query material -------------------------------------------------------------


@dataclass(frozen=True)
class QueryMaterial:
    """Distinct short text queries and photo files, drawn from the catalogue itself."""

    texts: list[str]
    photos: list[Path]

    @classmethod
    def from_store(cls, settings: Settings, seed: int) -> QueryMaterial:
        from indexing.store import Store

        store = Store(settings.store_location)
        try:
            listings = list(store.iter_listings())
        finally:
            store.close()
        rng = random.Random(seed)
        texts: dict[str, None] = {}
        for listing in listings:
            words = listing.title.split()
            for n in (2, 3, 4):  # buyers type a few words, not a whole title
                if len(words) >= n:
                    texts[" ".join(words[:n]).lower()] = None
        image_dir = settings.resolved_image_dir
        photos = [image_dir / f"{i}.jpg" for listing in listings for i in listing.image_ids]
        texts_list = list(texts)
        rng.shuffle(texts_list)
        rng.shuffle(photos)
        return cls(texts=texts_list, photos=[p for p in photos[:500] if p.is_file()])


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


# -- measuring ------------------------------------------------------------------


def _timed_post(client: httpx.Client, body: dict) -> tuple[float, float | None]:
    """(seconds end to end, seconds inside the search service or None on failure)."""
    started = time.perf_counter()
    try:
        response = client.post("/search", json=body)
        inside = response.json()["took_ms"] / 1000 if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError, KeyError):
        inside = None
    return time.perf_counter() - started, inside


def measure_latency(client: httpx.Client, bodies: list[dict]) -> dict[str, float]:
    """End-to-end percentiles, plus the service's own share (the rest is HTTP and JSON)."""
    latencies, inside, errors = [], [], 0
    for body in bodies:
        elapsed, service_s = _timed_post(client, body)
        latencies.append(elapsed)
        if service_s is None:
            errors += 1
        else:
            inside.append(service_s)
    service = percentiles(inside)
    return {
        **percentiles(latencies),
        "service_p50_ms": service.get("p50_ms"),
        "service_p99_ms": service.get("p99_ms"),
        "errors": errors,
    }


def measure_paired(
    client: httpx.Client, first: list[dict], second: list[dict]
) -> tuple[dict[str, float], dict[str, float]]:
    """Two kinds of query sent alternately, one of each in turn, so a load that comes
    and goes (a shared machine) weighs on both alike: a fair side-by-side."""
    times: tuple[list, list] = ([], [])
    for pair in zip(first, second, strict=True):
        for side, body in enumerate(pair):
            times[side].append(_timed_post(client, body))
    return _latency_figures(times[0]), _latency_figures(times[1])


def _latency_figures(timed: list[tuple[float, float | None]]) -> dict[str, float]:
    service = percentiles([inside for _, inside in timed if inside is not None])
    return {
        **percentiles([elapsed for elapsed, _ in timed]),
        "service_p50_ms": service.get("p50_ms"),
        "service_p99_ms": service.get("p99_ms"),
        "errors": sum(inside is None for _, inside in timed),
    }


def measure_throughput(
    url: str, bodies: Iterator[dict], concurrency: int, seconds: float
) -> dict[str, float]:
    """Closed-loop load: ``concurrency`` clients, each sending its next query on a reply."""
    lock = threading.Lock()
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    def worker() -> None:
        nonlocal errors
        with httpx.Client(base_url=url, timeout=30) as client:
            while time.perf_counter() < deadline:
                with lock:
                    body = next(bodies)
                elapsed, service_s = _timed_post(client, body)
                with lock:
                    latencies.append(elapsed)
                    errors += service_s is None

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return {
        "concurrency": concurrency,
        "seconds": round(elapsed, 2),
        "requests": len(latencies),
        "errors": errors,
        "qps": round(len(latencies) / elapsed, 1),
        **{key: value for key, value in percentiles(latencies).items() if key != "n"},
    }


def run_http_bench(
    settings: Settings, config: HttpBenchConfig, log_path: Path, progress: Callable[[str], None]
) -> dict:
    material = QueryMaterial.from_store(settings, config.seed)
    needed = 2 * config.latency_text + config.latency_both
    if len(material.texts) < needed + config.throughput_texts or not material.photos:
        raise BenchError("the catalogue is too small for the benchmark's query set")
    texts = iter(material.texts)
    photos = itertools.cycle(material.photos)
    latency_texts = list(itertools.islice(texts, config.latency_text))
    both_texts = list(itertools.islice(texts, config.latency_both))
    facet_texts = list(itertools.islice(texts, config.latency_text))
    k = config.k
    text_bodies = [{"text": t, "k": k} for t in latency_texts]
    facet_bodies = [{"text": t, "k": k, "facets": True} for t in facet_texts]
    photo_bodies = [{"image": _b64(next(photos)), "k": k} for _ in range(config.latency_photo)]
    both_bodies = [{"text": t, "image": _b64(next(photos)), "k": k} for t in both_texts]
    # Throughput uses the remaining, still unseen strings, then wraps round.
    load_bodies = itertools.cycle({"text": t, "k": k} for t in texts)

    env = dict(os.environ)
    if config.engine is not None:
        env["MARKETPLACE_ENGINE"] = config.engine
    with serve(
        settings.data, env=env, ready_timeout_s=config.startup_timeout_s, log_path=log_path
    ) as server:
        with httpx.Client(base_url=server.base_url, timeout=60) as client:
            ready = client.get("/readyz").json()
            progress("latency: text, without and with facets")
            text, faceted = measure_paired(client, text_bodies, facet_bodies)
            latency = {"text": text, "text_facets": faceted}
            latency["text_repeated"] = measure_latency(client, text_bodies[:100])
            progress("latency: photo")
            latency["photo"] = measure_latency(client, photo_bodies)
            progress("latency: text + photo")
            latency["text_and_photo"] = measure_latency(client, both_bodies)
        throughput = []
        for concurrency in config.concurrency:
            progress(f"throughput: concurrency {concurrency}")
            throughput.append(
                measure_throughput(
                    server.base_url, load_bodies, concurrency, config.seconds_per_level
                )
            )
    at_16 = next((t for t in throughput if t["concurrency"] == 16), None)
    return {
        "start_to_ready_s": server.start_to_ready_s,
        "server": {
            "listings": ready.get("listings"),
            "model_version": ready.get("model_version"),
            "engine": env.get("MARKETPLACE_ENGINE", settings.engine),
            **artefacts(settings),
        },
        "latency": latency,
        "throughput": throughput,
        "zero_errors": all(v["errors"] == 0 for v in latency.values())
        and all(t["errors"] == 0 for t in throughput),
        "targets": {
            "text_p50_ms": _check(latency["text"]["p50_ms"], TARGETS["text_p50_ms"]),
            "text_p99_ms": _check(latency["text"]["p99_ms"], TARGETS["text_p99_ms"]),
            "photo_p50_ms": _check(latency["photo"]["p50_ms"], TARGETS["photo_p50_ms"]),
            "text_qps_at_16": None
            if at_16 is None
            else _check(at_16["qps"], TARGETS["text_qps_at_16"], higher_is_better=True),
        },
        "config": asdict(config),
        "query_material": {
            "text": "distinct 2-4 word title prefixes from the catalogue, each sent once",
            "text_facets": "as many other prefixes asking for facets, sent alternately with "
            "the text queries",
            "text_repeated": "the first 100 text queries again (the query-embedding cache)",
            "photo": "the catalogue's cleaned photos, base64 in JSON",
            "throughput": "text queries not sent before, closed loop, fixed time per level",
        },
    }


def artefacts(settings: Settings) -> dict:
    """What the measured server loaded, from the manifests (so a report says what it measured)."""
    from indexing.index_store import MANIFEST_FILE, IndexDirectory

    model = json.loads((settings.resolved_model_dir / MANIFEST_FILE).read_text())
    index = json.loads(
        (IndexDirectory(settings.resolved_index_dir).require_current() / MANIFEST_FILE).read_text()
    )
    return {
        "model": {k: model.get(k) for k in ("fingerprint", "created", "backbones", "data")},
        "index": {
            k: index.get(k) for k in ("version", "kind", "count", "photo_count", "built_at", "data")
        },
    }


def _check(measured: float, target: float, higher_is_better: bool = False) -> dict:
    met = measured >= target if higher_is_better else measured <= target
    return {"measured": measured, "target": target, "met": bool(met)}


# -- a million vectors ------------------------------------------------------------


# The search-time knob of each approximate kind, swept from the served value up.
SEARCH_KNOB = {"ivf": "ivf_nprobe", "hnsw": "hnsw_ef_search"}
KNOB_FACTORS = (1, 2, 4)


def run_scale_bench(
    settings: Settings, config: ScaleBenchConfig, progress: Callable[[str], None]
) -> dict:
    """Text-query latency and recall@10 at ``config.size`` vectors, per search-time setting.

    The index is built once with the server's config, saved, and reloaded with
    the search knob (IVF ``nprobe`` / HNSW ``efSearch``) at 1x, 2x and 4x the
    served value; the cheapest setting reaching the recall target is reported.
    """
    import faiss
    import torch

    from benchmarks.scaling import ClusteredVectors, ScalingConfig
    from indexing.config import IndexConfig
    from indexing.vector_index import VectorIndex
    from multimodal.embedder import Embedder

    torch.set_num_threads(settings.torch_threads)
    embedder = Embedder.load(settings.resolved_model_dir)
    texts = QueryMaterial.from_store(settings, config.seed).texts[: config.queries]
    source = ClusteredVectors(ScalingConfig(dim=embedder.dim, seed=config.seed))
    progress(f"drawing {config.size:,} clustered vectors")
    vectors = source.draw(config.size)
    queries = source.draw(len(texts))
    served = IndexConfig()
    if config.approximate is not None:
        served = replace(served, approximate=config.approximate)
    progress(f"building the served index ({served.approximate}) over {config.size:,}")
    started = time.perf_counter()
    index = VectorIndex.build(np.arange(config.size, dtype=np.int64), vectors, served)
    build_s = time.perf_counter() - started
    progress("exact ground truth")
    exact = faiss.IndexFlatIP(embedder.dim)
    exact.add(vectors)
    _, truth = exact.search(queries, config.k)
    del exact, vectors

    faiss.omp_set_num_threads(1)  # one query at a time, as the service searches
    knob = SEARCH_KNOB.get(index.kind)
    points = []
    with tempfile.TemporaryDirectory(prefix="scale-index-") as tmp:
        index.save(Path(tmp))
        kind = index.kind
        del index
        values = [getattr(served, knob) * f for f in KNOB_FACTORS] if knob else [None]
        for value in values:
            progress(f"timing text queries ({knob}={value})" if knob else "timing text queries")
            tuned = replace(served, **{knob: value}) if knob else served
            loaded = VectorIndex.load(Path(tmp), kind, tuned)
            points.append(
                {
                    "knob": knob,
                    "value": value,
                    **_time_queries(embedder, loaded, texts, queries, truth, config.k),
                }
            )
            del loaded
    target = TARGETS["scale_recall_at_10"]
    chosen = next((p for p in points if p["recall_at_10"] >= target), points[-1])
    return {
        "size": config.size,
        "dim": embedder.dim,
        "model_version": embedder.fingerprint,
        "index_kind": kind,
        "index_config": asdict(served),
        "build_seconds": round(build_s, 1),
        "points": points,
        "chosen": {"knob": chosen["knob"], "value": chosen["value"]},
        "text_query": chosen["text_query"],
        "recall_at_10": chosen["recall_at_10"],
        "targets": {
            "text_p50_ms": _check(chosen["text_query"]["p50_ms"], TARGETS["scale_text_p50_ms"]),
            "recall_at_10": _check(chosen["recall_at_10"], target, higher_is_better=True),
        },
        "note": "in-process (real model + vector index), no HTTP or BM25; vectors are "
        "synthetic (clustered), queries drawn from the same clusters",
    }


def _time_queries(
    embedder, index, texts: list[str], queries: np.ndarray, truth: np.ndarray, k: int
) -> dict:
    """Per query: embed its text with the real model, then search one synthetic vector."""
    embed_s, search_s, total_s, recalls = [], [], [], []
    for text, query, relevant in zip(texts, queries, truth, strict=True):
        t0 = time.perf_counter()
        embedder.embed_query(text, None)
        t1 = time.perf_counter()
        _, ids = index.search(query, k)
        t2 = time.perf_counter()
        embed_s.append(t1 - t0)
        search_s.append(t2 - t1)
        total_s.append(t2 - t0)
        recalls.append(recall_at_k(ids[0].tolist(), relevant.tolist(), k))
    return {
        "recall_at_10": round(float(np.mean(recalls)), 4),
        "text_query": percentiles(total_s),
        "embedding": percentiles(embed_s),
        "vector_search": percentiles(search_s),
    }


def run_search_bench(
    settings: Settings,
    out: Path,
    http: HttpBenchConfig | None,
    scale: ScaleBenchConfig | None,
) -> dict:
    """The HTTP run and/or the scale run, merged into the report already at ``out``
    (so a ``--scale`` run keeps the HTTP figures), written there and summarised."""
    from tqdm import tqdm

    store = settings.store_location  # a database URL, or a SQLite file that must exist
    if isinstance(store, Path) and not store.is_file():
        raise BenchError(f"no catalogue store at {store}: reindex first")
    report = json.loads(out.read_text()) if out.is_file() else {}
    report["machine"] = machine_info()
    report["data"] = str(settings.data)
    steps = (6 if http else 0) + (3 + len(KNOB_FACTORS) if scale else 0)
    with tqdm(total=steps, desc="search bench", unit="step") as bar:

        def progress(what: str) -> None:
            bar.set_postfix_str(what)
            bar.update(1)

        if http is not None:
            log_path = Path(tempfile.gettempdir()) / "marketplace-search-bench-server.log"
            report["http"] = run_http_bench(settings, http, log_path, progress)
        if scale is not None:
            report["scale"] = run_scale_bench(settings, scale, progress)
    write_report(report, out, summary_line(report))
    return report


def summary_line(report: dict) -> str:
    parts = []
    http = report.get("http")
    if http:
        lat = http["latency"]
        qps = ", ".join(f"c{t['concurrency']} {t['qps']:.0f}" for t in http["throughput"])
        ready_s = http.get("start_to_ready_s")  # absent from reports written before it was
        parts.append(
            (f"start to /readyz {ready_s:.2f} s, " if ready_s is not None else "")
            + f"text p50 {lat['text']['p50_ms']:.1f} / p99 {lat['text']['p99_ms']:.1f} ms, "
            + (
                f"with facets p50 {lat['text_facets']['p50_ms']:.1f} ms, "
                if "text_facets" in lat  # absent from reports written before it was
                else ""
            )
            + f"photo p50 {lat['photo']['p50_ms']:.1f} ms, "
            f"text+photo p50 {lat['text_and_photo']['p50_ms']:.1f} ms, QPS {qps}, "
            f"{'no' if http['zero_errors'] else 'SOME'} errors"
        )
    scale = report.get("scale")
    if scale:
        parts.append(
            f"{scale['size']:,} vectors ({scale['index_kind']}"
            + (
                f", {scale['chosen']['knob']}={scale['chosen']['value']}"
                if scale.get("chosen", {}).get("knob")
                else ""
            )
            + f"): text p50 {scale['text_query']['p50_ms']:.1f} ms, "
            f"recall@10 {scale['recall_at_10']:.3f}"
        )
    return "search bench: " + "; ".join(parts)
