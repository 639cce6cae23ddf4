"""``--device``, the same flag for every command that runs a model."""

from __future__ import annotations

import argparse

from scripts.errors import CliError


def add_device_argument(parser: argparse.ArgumentParser, default: str | None = "auto") -> None:
    """``--device auto|cpu|cuda`` (``multimodal.device``), shared by train, reindex and serve."""
    parser.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default=default,
        help="where the models run; auto: CUDA when torch sees a GPU (default: auto)",
    )


def check_device(requested: str) -> None:
    """A one-line ``CliError`` for ``cuda`` where torch sees no GPU, before any long work."""
    from multimodal.device import DeviceUnavailable, require_device

    try:
        require_device(requested)
    except DeviceUnavailable as exc:
        raise CliError(str(exc)) from None
