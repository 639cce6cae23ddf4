"""Which torch device a command runs on, and moving work to it.

``auto`` takes CUDA when torch sees a GPU and the CPU otherwise; ``cuda``
where torch sees none is an error (a GPU run that silently fell back to two
CPU cores would take hours, not minutes). The choice is logged in one line, so
a run's log says where it ran. Configs name a ``Device`` string; only the code
that loads a model resolves it, so torch is imported inside the functions.

The CPU install has no CUDA packages: on it ``auto`` is always the CPU.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import torch
    from torch import nn

log = logging.getLogger(__name__)

Device = Literal["auto", "cpu", "cuda"]
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")


class DeviceUnavailable(RuntimeError):
    """``cuda`` was asked for where torch sees no GPU."""


def require_device(requested: str) -> None:
    """Refuse a device name that is unknown, or ``cuda`` where torch sees no GPU: a command
    checks this first, so it fails in one line before any long work."""
    import torch

    if requested not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}, not {requested!r}")
    if requested == "cuda" and not torch.cuda.is_available():
        built = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only torch"
        raise DeviceUnavailable(
            f"device cuda asked for, but torch sees no GPU here ({built}): use cpu or auto"
        )


def resolve_device(requested: str) -> torch.device:
    """``auto`` → CUDA when torch sees a GPU, else the CPU; logs the choice in one line."""
    import torch

    require_device(requested)
    has_gpu = torch.cuda.is_available()
    if requested == "cpu" or not has_gpu:
        reason = "asked for" if requested == "cpu" else "auto: torch sees no GPU"
        device = torch.device("cpu")
    else:
        reason = "asked for" if requested == "cuda" else "auto: torch sees a GPU"
        device = torch.device("cuda")
    log.info("device: %s (%s)", describe(device), reason)
    return device


def describe(device: torch.device) -> str:
    """``cuda (NVIDIA H100 80GB HBM3)`` or ``cpu (2 threads)``: for logs and reports."""
    import torch

    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"


def device_of(module: nn.Module) -> torch.device:
    """Where ``module``'s weights are (the device its inputs must go to)."""
    import torch

    first = next(module.parameters(), None)
    return first.device if first is not None else torch.device("cpu")


def to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``tensor`` on ``device``; a host tensor bound for the GPU is pinned first, so the
    copy runs asynchronously while the CPU prepares the next batch. On the CPU: as is."""
    if device.type == "cpu" or tensor.device == device:
        return tensor
    if tensor.device.type == "cpu":
        tensor = tensor.pin_memory()
    return tensor.to(device, non_blocking=True)
