"""``marketplace serve``: the search API under uvicorn, model and index loaded once.

The service is loaded before uvicorn starts, so a missing or mismatched model
or index is a one-line error rather than a server that starts and then fails.
One worker process: the model is the memory, and the threadpool runs the
plain ``def`` endpoints (CPU inference must not sit on the event loop).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from scripts.errors import CliError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("serve", help="serve the search API and page (uvicorn)")
    add_data_argument(parser)
    parser.add_argument("--host", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to bind (default 8000)")
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
    import uvicorn

    from api.main import create_app

    settings = settings_from(args, host=args.host, port=args.port, engine=args.engine)
    service = load_service(settings)
    print(
        f"serving {service.size} listings (model {service.model_version}) "
        f"on http://{settings.host}:{settings.port}"
    )
    try:
        uvicorn.run(create_app(settings, service), host=settings.host, port=settings.port)
    finally:
        service.close()
    return 0
