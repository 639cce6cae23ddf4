"""Which number format inference and training run in.

On CPUs with native bfloat16 (AVX512-BF16 or AMX) oneDNN runs the encoders'
matrix products in bf16 several times faster than in fp32: EfficientNet-Lite0
~6x, a short MiniLM query ~1.6x, at a cosine of ~0.999 to the fp32 vectors.
Elsewhere bf16 is emulated and slower, so ``auto`` only picks it where the CPU
has it. On a GPU anything but ``fp32`` is mixed precision in the GPU's half
type: bf16 where it has it (Ampere and later), else fp16, whose narrow range
needs a ``GradScaler`` when training. Torch is imported inside the functions,
so configs can name a ``Precision`` without loading torch.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Literal

Precision = Literal["auto", "fp32", "bf16"]
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16")
# What a requested ``Precision`` resolves to on a device (fp16 only on a GPU without bf16).
Resolved = Literal["fp32", "bf16", "fp16"]


def native_bf16() -> bool:
    """True where the CPU multiplies bf16 natively (not emulated)."""
    import torch

    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def resolve_precision(requested: str, device_type: str = "cpu") -> Resolved:
    """On the CPU: ``auto`` → ``bf16`` with native bf16, else ``fp32``; others pass through.
    On CUDA: ``fp32`` stays, anything else is the GPU's half type (``gpu_half``)."""
    if requested not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {requested!r}")
    if device_type == "cuda":
        return "fp32" if requested == "fp32" else gpu_half()
    if requested == "auto":
        return "bf16" if native_bf16() else "fp32"
    return requested  # type: ignore[return-value]


def gpu_half() -> Literal["bf16", "fp16"]:
    """bf16 where the GPU computes in it natively, else fp16."""
    import torch

    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def autocast(precision: Resolved, device_type: str = "cpu") -> AbstractContextManager:
    """The autocast context for ``precision`` on ``device_type`` (a no-op for fp32)."""
    import torch

    dtype = torch.float16 if precision == "fp16" else torch.bfloat16
    return torch.autocast(device_type, dtype=dtype, enabled=precision != "fp32")
