"""The suggestion benchmark: ``GET /suggest`` over real HTTP, and what query understanding costs.

It starts ``marketplace serve`` (``benchmarks.harness.serve``) and measures
from a client in this process, one request at a time:

- ``/suggest`` latency over prefixes drawn from the catalogue's titles with a
  seed: the first one to three words with the last one cut short, and a share
  with a typo (two letters swapped) in an earlier word; each beside a
  ``/healthz``, whose latency is the floor any request pays (HTTP, and the
  wait for a core on a busy machine);
- the text search with ``understand`` on and off, the same query both ways in
  turn (which arm goes first alternates, so the embedding cache favours
  neither), each p50 end to end and inside the service; the median of the
  paired differences inside the service is what reading the words costs;
- in this process, the time to build the catalogue's language (spelling,
  places, phrases) from the store's listings, which a start and a reload pay,
  and the CPU time (``time.thread_time``: what the work itself costs, not the
  wait for a core on a busy machine) of one completion and of reading one
  query's words, over the same prefixes and queries.
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from api.settings import Settings
from benchmarks.errors import BenchError
from benchmarks.harness import machine_info, percentiles, serve, write_report
from benchmarks.search import QueryMaterial

TARGETS = {"suggest_p50_ms": 5.0, "understanding_added_p50_ms": 2.0}


@dataclass(frozen=True)
class SuggestBenchConfig:
    prefixes: int = 500
    searches: int = 200  # queries, each searched with understanding on and off
    typo_share: float = 0.2
    limit: int = 8
    k: int = 20
    warmup: int = 20
    seed: int = 0


def prefixes_from(phrases: list[str], n: int, typo_share: float, rng: random.Random) -> list[str]:
    """What a shopper has typed so far: a title's first words, the last one unfinished."""
    out = []
    for phrase in rng.sample(phrases, min(n, len(phrases))):
        words = phrase.lower().split()[: rng.randint(1, 3)]
        last = words[-1]
        words[-1] = last[: rng.randint(1, len(last))]
        if len(words) > 1 and len(words[0]) > 3 and rng.random() < typo_share:
            first = words[0]
            at = rng.randrange(len(first) - 1)
            words[0] = first[:at] + first[at + 1] + first[at] + first[at + 2 :]
        out.append(" ".join(words))
    return out


def _get(client: httpx.Client, path: str, params: dict) -> float:
    started = time.perf_counter()
    response = client.get(path, params=params)
    if response.status_code != 200:
        raise BenchError(f"GET {path} answered {response.status_code}: {response.text[:200]}")
    return time.perf_counter() - started


def _search(client: httpx.Client, body: dict) -> tuple[float, float]:
    started = time.perf_counter()
    response = client.post("/search", json=body)
    if response.status_code != 200:
        raise BenchError(f"POST /search answered {response.status_code}: {response.text[:200]}")
    return time.perf_counter() - started, response.json()["took_ms"] / 1000


def in_process(settings: Settings, typed: list[str], texts: list[str], limit: int) -> dict:
    """Build seconds (best of 3, CPU) and the CPU time of a completion and of reading a query."""
    from api.category_match import CategoryMatcher
    from api.schemas import Filters
    from api.understanding.language import CatalogueLanguage
    from api.understanding.parser import read_query
    from indexing.store import Store

    store = Store(settings.resolved_store_path)
    try:
        listings = list(store.iter_listings())
    finally:
        store.close()
    builds = []
    for _ in range(3):
        started = time.thread_time()
        language = CatalogueLanguage.of(listings)
        builds.append(time.thread_time() - started)
    categories = CategoryMatcher({listing.category_path for listing in listings})

    def cpu(work) -> float:
        started = time.thread_time()
        work()
        return time.thread_time() - started

    completions = [cpu(lambda q=q: language.suggest(q, limit)) for q in typed]
    readings = [cpu(lambda t=t: read_query(t, Filters(), language, categories)) for t in texts]
    return {
        "listings": len(listings),
        "build_cpu_s": round(min(builds), 3),
        "suggest_cpu": percentiles(completions),
        "read_query_cpu": percentiles(readings),
    }


def run_suggest_bench(settings: Settings, config: SuggestBenchConfig, out: Path) -> dict:
    if not settings.resolved_store_path.is_file():
        raise BenchError(f"no catalogue store at {settings.resolved_store_path}: reindex first")
    rng = random.Random(config.seed)
    material = QueryMaterial.from_store(settings, config.seed)
    texts = material.texts
    if len(texts) < config.searches + config.warmup:
        raise BenchError("the catalogue is too small for the benchmark's query set")
    typed = prefixes_from(sorted(texts), config.prefixes, config.typo_share, rng)
    warm, texts_paired = texts[: config.warmup], texts[config.warmup :][: config.searches]
    log_path = Path(tempfile.gettempdir()) / "marketplace-suggest-bench-server.log"
    report: dict = {"machine": machine_info(), "data": str(settings.data), "config": asdict(config)}
    with (
        serve(settings.data, log_path=log_path) as server,
        httpx.Client(base_url=server.base_url, timeout=30) as client,
    ):
        report["start_to_ready_s"] = server.start_to_ready_s
        for text in warm:
            _get(client, "/suggest", {"q": text[:4], "limit": config.limit})
            _search(client, {"text": text, "k": config.k})
        suggest, floor = [], []
        for q in typed:  # each beside the cheapest request the server answers: its floor
            suggest.append(_get(client, "/suggest", {"q": q, "limit": config.limit}))
            floor.append(_get(client, "/healthz", {}))
        on, off, on_inside, off_inside = [], [], [], []
        for i, text in enumerate(texts_paired):
            # The same text both ways, in turn first and second: the embedding cache
            # answers the second of each pair, for either arm equally often.
            arms = [(True, on, on_inside), (False, off, off_inside)]
            for understand, totals, insides in arms if i % 2 == 0 else arms[::-1]:
                body = {"text": text, "k": config.k, "understand": understand}
                total, inside = _search(client, body)
                totals.append(total)
                insides.append(inside)
    report["suggest"] = percentiles(suggest)
    report["healthz_floor"] = percentiles(floor)
    report["search_understand_on"] = {
        **percentiles(on),
        "service_p50_ms": percentiles(on_inside)["p50_ms"],
    }
    report["search_understand_off"] = {
        **percentiles(off),
        "service_p50_ms": percentiles(off_inside)["p50_ms"],
    }
    paired = sorted((a - b) * 1000 for a, b in zip(on_inside, off_inside, strict=True))
    report["understanding_added_p50_ms"] = round(paired[len(paired) // 2], 3)
    report["language"] = in_process(settings, typed, texts_paired, config.limit)
    report["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    report["targets"] = {
        "suggest_p50_ms": {
            "target": TARGETS["suggest_p50_ms"],
            "measured": report["suggest"]["p50_ms"],
            "met": report["suggest"]["p50_ms"] <= TARGETS["suggest_p50_ms"],
        },
        "understanding_added_p50_ms": {
            "target": TARGETS["understanding_added_p50_ms"],
            "measured": report["understanding_added_p50_ms"],
            "met": report["understanding_added_p50_ms"] <= TARGETS["understanding_added_p50_ms"],
        },
    }
    write_report(report, out, summary_line(report))
    return report


def summary_line(report: dict) -> str:
    suggest, on, off = (
        report["suggest"],
        report["search_understand_on"],
        report["search_understand_off"],
    )
    language = report["language"]
    return (
        f"suggest p50 {suggest['p50_ms']:.2f} / p99 {suggest['p99_ms']:.2f} ms "
        f"(/healthz p50 {report['healthz_floor']['p50_ms']:.2f} ms); "
        f"text search p50 {on['p50_ms']:.2f} ms understanding on, {off['p50_ms']:.2f} ms off "
        f"({report['understanding_added_p50_ms']:+.2f} ms); "
        f"CPU: a completion {language['suggest_cpu']['p50_ms']:.3f} ms, reading a query "
        f"{language['read_query_cpu']['p50_ms']:.3f} ms, the language built in "
        f"{language['build_cpu_s']:.2f} s for {language['listings']} listings"
    )
