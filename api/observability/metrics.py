"""The Prometheus metrics: declared once here, updated where things happen, exposed by the library.

Requests are counted and timed by the middleware (``record_request``); what
is serving (index version, model fingerprint, listing count) is set by
``record_serving`` at start-up, after each reindex check and at each scrape;
reloads are counted where they happen (``api.service``, ``api.serving_state``,
``api.main``).

Several worker processes (``marketplace serve --workers N``) share one view
through prometheus-client's multiprocess mode: ``PROMETHEUS_MULTIPROC_DIR``
is set before any metric is created, each process writes its values to files
there, and whichever worker answers ``/metrics`` merges them all. Counters
and histograms are summed over the workers; the serving gauges are reported
per live worker (a ``pid`` label), since each follows reindexes on its own.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

if TYPE_CHECKING:
    from api.service import SearchService

MULTIPROC_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# From a cached health check (~1 ms) to a cold photo query on a busy machine.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Any other method (a scanner's ``FOO``) is counted as "other", so it cannot grow the series.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

REQUESTS = Counter(
    "marketplace_http_requests",
    "HTTP requests answered, by route template, status class and search query kind.",
    ["method", "route", "status", "query_kind"],
)
LATENCY = Histogram(
    "marketplace_http_request_duration_seconds",
    "Time from a request's arrival to the last byte of its answer.",
    ["method", "route", "query_kind"],
    buckets=LATENCY_BUCKETS,
)
SERVING = Gauge(
    "marketplace_serving_info",
    "1 for the index version and model this process serves (0 for ones it served before).",
    ["index_version", "model_fingerprint"],
    multiprocess_mode="liveall",
)
INDEX_VERSION = Gauge(
    "marketplace_index_version",
    "The index version this process serves.",
    multiprocess_mode="liveall",
)
LISTINGS = Gauge(
    "marketplace_listings",
    "Live listings this process serves.",
    multiprocess_mode="liveall",
)
RELOADS = Counter(
    "marketplace_index_reloads",
    "New index versions swapped in while serving.",
)
REPLICA_CHANGES = Counter(
    "marketplace_replica_changes_applied",
    "Writes other replicas made that this process applied (listing, event; resync: the "
    "store re-read whole after falling behind the change log).",
    ["kind"],
)
RELOAD_FAILURES = Counter(
    "marketplace_index_reload_failures",
    "Checks that found a new index version and could not serve it (the old one kept serving).",
)


def record_request(method: str, route: str, status: int, query_kind: str, seconds: float) -> None:
    method = method if method in METHODS else "other"
    REQUESTS.labels(method, route, f"{status // 100}xx", query_kind).inc()
    LATENCY.labels(method, route, query_kind).observe(seconds)


class _LastServing:
    """The serving labels this process last set to 1, so a reload can set them to 0.

    ``lock`` makes a change of labels, and a scrape's update-then-expose, one
    step: a reindex watch recording between a scrape's two halves would
    otherwise leave the scrape showing no version at 1."""

    labels: tuple[str, str] | None = None
    lock = threading.RLock()


def record_serving(service: SearchService) -> None:
    """Set the serving gauges from ``service`` (cheap: a few attribute reads)."""
    manifest = service.index.manifest
    labels = (str(manifest.version), service.model_version)
    with _LastServing.lock:
        if _LastServing.labels is not None and _LastServing.labels != labels:
            SERVING.labels(*_LastServing.labels).set(0)
        SERVING.labels(*labels).set(1)
        _LastServing.labels = labels
        INDEX_VERSION.set(manifest.version)
        LISTINGS.set(service.size)


def index_reloaded() -> None:
    RELOADS.inc()


def changes_applied(kind: str, n: int) -> None:
    REPLICA_CHANGES.labels(kind).inc(n)


def reload_failed() -> None:
    RELOAD_FAILURES.inc()


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_DIR_VARIABLE)


def exposition(serving: SearchService | None = None) -> bytes:
    """The Prometheus text exposition of every metric: this process's, or every worker's.

    With ``serving``, its gauges are recorded first, in the same step."""
    with _LastServing.lock:
        if serving is not None:
            record_serving(serving)
        return _exposition()


def _exposition() -> bytes:
    if multiprocess_dir() is None:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return generate_latest(registry)


def forget_this_process() -> None:
    """A stopping worker's serving gauges leave the merged view (its counts stay)."""
    if multiprocess_dir() is not None:
        multiprocess.mark_process_dead(os.getpid())
