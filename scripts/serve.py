"""``marketplace serve``: the search API under uvicorn, model and index loaded once per process.

The service is loaded before uvicorn starts, so a missing or mismatched model
or index is a one-line error rather than a server that starts and then fails.
With ``--workers 1`` (the default) that service is the one served: one
process, whose threadpool runs the plain ``def`` endpoints (CPU inference
must not sit on the event loop). With ``--workers N`` uvicorn runs N worker
processes from the app factory ``api.main:app_from_settings``: the check
above runs once in the parent and its service is closed, the settings travel
to the workers as ``MARKETPLACE_*`` variables, and each worker loads and warms
its own service (N times the model's memory). The workers share the metrics
through ``PROMETHEUS_MULTIPROC_DIR``, a folder emptied at start. ``--ray`` does the
same with Ray Serve replicas instead of uvicorn workers (``api.ray_serving``).

Logging is configured here, once: JSON lines on stderr (``api.observability.logs``),
uvicorn's own lines included and its plain access log replaced.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import tempfile
from pathlib import Path

from scripts.device_option import add_device_argument, check_device
from scripts.errors import CliError

log = logging.getLogger("api.serve")

APP_FACTORY = "api.main:app_from_settings"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("serve", help="serve the search API and page (uvicorn)")
    add_data_argument(parser)
    parser.add_argument("--host", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to bind (default 8000)")
    add_device_argument(parser, default=None)  # None: MARKETPLACE_DEVICE, else auto
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes, each with its own model and index (default 1)",
    )
    parser.add_argument("--ray", action="store_true", help="serve as Ray Serve replicas instead")
    parser.add_argument("--replicas", type=int, help="with --ray: how many (default 2)")
    parser.add_argument(
        "--ray-address", help="with --ray: a cluster to join (auto, ray://head:10001); "
        "default: start a local Ray",
    )  # fmt: skip
    add_engine_argument(parser)
    parser.set_defaults(handler=run)


def add_engine_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--engine",
        choices=("auto", "onnx", "torch"),
        help="what runs the encoders: auto (the default) = the ONNX runtime, "
        "falling back to torch; torch = eager torch",
    )


def add_data_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        type=Path,
        help="raw data folder whose workspace holds the model and index "
        "(default: MARKETPLACE_DATA, else ../shared/marketplace)",
    )


def settings_from(args: argparse.Namespace, **overrides: object):
    """``Settings`` from the environment, with the command-line flags on top."""
    from pydantic import ValidationError

    from api.settings import Settings
    from multimodal.workspace import default_data_dir

    flags = {name: value for name, value in overrides.items() if value is not None}
    flags["data"] = args.data or default_data_dir()[0]
    try:
        return Settings(**flags)
    except ValidationError as exc:  # a flag or a MARKETPLACE_* variable out of range
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise CliError(f"{field}: {first['msg']} (got {first.get('input')!r})") from None


def load_service(settings):
    """The search service, or a one-line ``CliError`` saying what is missing."""
    from api.service import SearchService
    from api.serving_state import StartupError

    try:
        return SearchService.open(settings)
    except StartupError as exc:
        raise CliError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    settings = settings_from(
        args, host=args.host, port=args.port, device=args.device, engine=args.engine
    )
    check_device(settings.device)
    if args.workers < 1:
        raise CliError(f"--workers must be at least 1, not {args.workers}")
    if not args.ray and (args.replicas is not None or args.ray_address is not None):
        raise CliError("--replicas and --ray-address go with --ray")
    if args.ray and args.workers != 1:
        raise CliError("--ray takes --replicas N, not --workers")
    if args.replicas is not None and args.replicas < 1:
        raise CliError(f"--replicas must be at least 1, not {args.replicas}")
    if args.workers > 1 or args.ray or os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Before anything imports prometheus-client: it picks its mode on import.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(empty_metrics_dir(settings.port))

    from api.observability.logs import json_logging, logging_config

    config = logging_config()
    with json_logging(config):
        if args.ray:
            return serve_ray(settings, args.replicas or 2, args.ray_address)
        if args.workers == 1:
            return serve_one(settings, config)
        return serve_workers(settings, args.workers, config)


def serve_one(settings, log_config: dict) -> int:
    """One process serving the service loaded here."""
    import uvicorn

    from api.main import create_app

    service = load_service(settings)
    _log_start(settings, service, workers=1)
    try:
        uvicorn.run(
            create_app(settings, service),
            host=settings.host,
            port=settings.port,
            log_config=log_config,
            access_log=False,
        )
    finally:
        service.close()
    return 0


def serve_workers(settings, workers: int, log_config: dict) -> int:
    """``workers`` processes, each building its app from the environment."""
    import uvicorn

    service = load_service(settings)  # refuse a broken model or index here, in one line
    _log_start(settings, service, workers=workers)
    service.close()
    os.environ.update(settings_environment(settings))
    uvicorn.run(
        APP_FACTORY,
        factory=True,
        workers=workers,
        host=settings.host,
        port=settings.port,
        log_config=log_config,
        access_log=False,
    )
    return 0


def serve_ray(settings, replicas: int, address: str | None) -> int:
    """``replicas`` Ray Serve replicas (``api.ray_serving``), each building its app from
    the environment, as ``serve_workers``' processes do."""
    if importlib.util.find_spec("ray") is None:
        raise CliError("--ray needs Ray Serve: pip install '.[distributed]'")
    service = load_service(settings)  # refuse a broken model or index here, in one line
    _log_start(settings, service, workers=replicas)
    service.close()
    from api.ray_serving import RayServeConfig, RayServeError, import_ray_serve, serve_replicas

    try:
        import_ray_serve()
    except ImportError as exc:  # Ray without its serve extra
        raise CliError(f"--ray needs Ray Serve: pip install '.[distributed]' ({exc})") from None
    environment = settings_environment(settings)
    environment["PROMETHEUS_MULTIPROC_DIR"] = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    config = RayServeConfig(replicas=replicas, address=address)
    try:
        serve_replicas(config, environment, settings.host, settings.port)
    except RayServeError as exc:
        raise CliError(str(exc)) from None
    return 0


def settings_environment(settings) -> dict[str, str]:
    """The ``MARKETPLACE_*`` variables that rebuild ``settings`` in a worker: every field
    set explicitly (flags and variables alike), secrets included."""
    fields = settings.model_fields_set
    values = settings.model_dump(mode="json", include=fields)
    environment = {}
    for name in fields:
        value = getattr(settings, name)
        if value is None:
            continue
        if hasattr(value, "get_secret_value"):
            text = value.get_secret_value()
        elif isinstance(values[name], str):
            text = values[name]
        else:
            text = json.dumps(values[name])
        environment[f"MARKETPLACE_{name.upper()}"] = text
    return environment


def empty_metrics_dir(port: int) -> Path:
    """The workers' shared metrics folder (``PROMETHEUS_MULTIPROC_DIR``, else one per port
    in the temporary folder), emptied of an earlier run's files."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    folder = Path(given) if given else Path(tempfile.gettempdir()) / f"marketplace-metrics-{port}"
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink()
    return folder


def _log_start(settings, service, workers: int) -> None:
    from multimodal.device import describe

    log.info(
        "serving %d listings (model %s, device %s) on http://%s:%d with %d worker(s)",
        service.size,
        service.model_version,
        describe(service.embedder.device),
        settings.host,
        settings.port,
        workers,
        extra={"fields": {"workers": workers, "index_version": service.index.manifest.version}},
    )
