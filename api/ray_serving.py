"""``marketplace serve --ray``: the search API as N Ray Serve replicas, one app each.

Every replica is a Ray actor that builds the same FastAPI app as a
``serve --workers`` worker (``api.main.app_from_settings``: ``Settings()``
from the ``MARKETPLACE_*`` variables its runtime environment carries). Ray
Serve runs the app's lifespan when the replica starts, and marks the replica
running only once it returns, so each replica loads, levels with the store
and warms its own service before Serve's proxy routes a request to it;
``check_health`` then reports a replica whose service is gone as unhealthy,
and Serve replaces it.

The replicas share what ``serve --workers`` processes share: the store (a
PostgreSQL database, or one SQLite file on one machine), the index root and
the photo folder, at the same paths on every node. Each follows new index
versions and other replicas' writes on its own, through the app's watch loop.

What the replicas log goes, as JSON lines, to their own stderr, which Ray keeps
in each node's ``worker-*.err`` files and, for replicas this command deployed,
forwards to this process's stderr verbatim (no ``(pid=...)`` prefix, no
de-duplication of like lines). Their metrics go to one prometheus-client
multiprocess folder per node, as ``serve --workers`` does: a scrape of
``/metrics`` sums the replicas of the node whose replica answered it
(``docs/ray-serve.md``).

Ray is an optional extra (``pip install .[distributed]``): nothing else in
``api`` imports this module, and it imports Ray only when it deploys, after
setting how Ray forwards logs (Ray reads that when it is first imported).
"""

from __future__ import annotations

import logging
import logging.config
import math
import os
import signal
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.observability.logs import logging_config

log = logging.getLogger("api.serve")

# Forwarded replica lines stay one JSON object a line: Ray would prefix each with
# "(ServeReplica:... pid=...)" and fold lines that look alike into "[repeated Nx]";
# Serve's own plain-text lines (controller, proxy, replicas) go to its log files only.
RAY_LOG_ENVIRONMENT = {
    "RAY_DEDUP_LOGS": "0",
    "RAY_DISABLE_WORKER_LOG_PREFIX": "1",
    "RAY_SERVE_LOG_TO_STDERR": "0",
}
REPLICA_HEADER = "X-Replica-ID"
# ``api.observability.metrics.MULTIPROC_DIR_VARIABLE``, not imported from there: importing
# that module creates the metrics, which needs the folder to exist already.
METRICS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


class RayServeError(Exception):
    """Ray could not be started or joined, or Serve could not deploy the replicas."""


@dataclass(frozen=True)
class RayServeConfig:
    """Where and how wide ``serve --ray`` deploys."""

    replicas: int = 2
    # None: start a local Ray for this command (and stop it after); "auto" or
    # "ray://head:10001" or "head:6379": join that running cluster.
    address: str | None = None
    # Ray's scheduling unit per replica (logical cores; the encoders use torch_threads).
    cpus_per_replica: float = 1.0
    # A local Ray's shared-memory object store: the replicas pass no large objects.
    local_object_store_bytes: int = 128 * 2**20
    # Requests a replica takes at once before the proxy queues them; text queries
    # arriving together share one model pass (``api.batching``), so allow a batch.
    max_ongoing_requests: int = 32
    app_name: str = "marketplace"


class ReplicaIdHeader:
    """Names the replica that answered in each response (pure ASGI: no body buffering)."""

    def __init__(self, app: ASGIApp, replica: str) -> None:
        self.app = app
        self.replica = replica

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def named(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[REPLICA_HEADER] = self.replica
            await send(message)

        await self.app(scope, receive, named)


class SearchReplica:
    """One replica: the app over its own loaded service (made a deployment by ``_deployment``)."""

    def __init__(self) -> None:
        # This node's metrics folder may not exist yet (it is made in advance only on
        # the node that ran ``serve``); it must before the app creates a metric.
        folder = os.environ.get(METRICS_DIR_VARIABLE)
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
        config = logging_config()
        # Ray Serve may swap ``sys.stderr`` for its own logger: write to the real one.
        config["handlers"]["stderr"]["stream"] = "ext://sys.__stderr__"
        logging.config.dictConfig(config)

    def __serve_build_asgi_app__(self) -> ASGIApp:
        """Ray Serve's hook for an app built in the replica, after ``__init__``."""
        from ray import serve

        from api.main import app_from_settings

        app = app_from_settings()
        replica = serve.get_replica_context().replica_id.unique_id
        app.add_middleware(ReplicaIdHeader, replica=replica)
        return app

    def check_health(self) -> None:
        """Ray Serve's periodic check: raising marks this replica unhealthy."""
        service = getattr(self.app.state, "service", None)  # type: ignore[attr-defined]
        if service is None or not service.ready:
            raise RuntimeError("the search service is not loaded and warmed")


def import_ray_serve() -> None:
    """Import Ray Serve (``ImportError`` when the extra is missing), after telling Ray
    how to forward the replicas' lines (it reads that once, on its first import)."""
    for name, value in RAY_LOG_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    import ray.serve  # noqa: F401


def serve_replicas(
    config: RayServeConfig, environment: Mapping[str, str], host: str, port: int
) -> None:
    """Deploy ``config.replicas`` replicas, each with ``environment`` (its settings as
    ``MARKETPLACE_*`` variables), on ``host:port``; serve until SIGINT or SIGTERM, then
    take them down (and the local Ray, if this started one)."""
    import_ray_serve()
    import ray
    from ray import serve

    local = config.address is None
    try:
        ray.init(
            address="local" if local else config.address,
            num_cpus=math.ceil(config.replicas * config.cpus_per_replica) if local else None,
            object_store_memory=config.local_object_store_bytes if local else None,
            include_dashboard=False,
            configure_logging=False,  # Ray's driver lines reach the root logger: JSON like ours
        )
    except (ConnectionError, ValueError, RuntimeError) as exc:
        where = config.address or "a local Ray"
        raise RayServeError(f"cannot start or join {where}: {_first_line(exc)}") from None
    for name in ("ray", "ray.serve"):
        logging.getLogger(name).setLevel(logging.WARNING)
    stop = _stop_on_signals()
    try:
        serve.start(http_options={"host": host, "port": port})
        try:
            serve.run(
                _deployment(config, environment).bind(),
                name=config.app_name,
                route_prefix="/",
                blocking=False,
            )
        except RuntimeError as exc:  # a replica failed to start, again and again
            raise RayServeError(f"Ray Serve could not deploy: {_first_line(exc)}") from None
        log.info(
            "%d Ray Serve replica(s) serving on http://%s:%d",
            config.replicas,
            host,
            port,
            extra={"fields": {"replicas": config.replicas, "ray_address": config.address}},
        )
        while not stop.wait(1.0):
            pass
        log.info("stopping the Ray Serve replicas")
    finally:
        if local:
            serve.shutdown()
        else:  # a shared cluster: take down this app only, leave Serve to its other apps
            serve.delete(config.app_name)
        ray.shutdown()  # stops the local Ray; leaves a cluster


def _deployment(config: RayServeConfig, environment: Mapping[str, str]) -> Any:
    from ray import serve

    return serve.deployment(
        serve.ingress()(SearchReplica),
        name="SearchAPI",
        num_replicas=config.replicas,
        max_ongoing_requests=config.max_ongoing_requests,
        ray_actor_options={
            "num_cpus": config.cpus_per_replica,
            # Replicas on a cluster's nodes did not inherit this process's environment.
            "runtime_env": {"env_vars": {**environment, "RAY_SERVE_LOG_TO_STDERR": "0"}},
        },
        # Serve's own lines (replica started, its access log) stay in Serve's log files;
        # the app writes the JSON access log.
        logging_config={"log_level": "WARNING", "enable_access_log": False},
    )


def _first_line(exc: Exception) -> str:
    """An error's first line: Ray's messages carry the replica's traceback after it."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _stop_on_signals() -> threading.Event:
    """An event set by the first SIGINT or SIGTERM (Ray's own SIGTERM handler exits
    at once, before the replicas are taken down)."""
    stop = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: stop.set())
    return stop
