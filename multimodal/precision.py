"""Which number format CPU inference runs in.

On CPUs with native bfloat16 (AVX512-BF16 or AMX) oneDNN runs the encoders'
matrix products in bf16 several times faster than in fp32: EfficientNet-Lite0
~6x, a short MiniLM query ~1.6x, at a cosine of ~0.999 to the fp32 vectors.
Elsewhere bf16 is emulated and slower, so ``auto`` only picks it where the CPU
has it. Torch is imported inside the functions, so configs can name a
``Precision`` without loading torch.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Literal

Precision = Literal["auto", "fp32", "bf16"]
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16")


def native_bf16() -> bool:
    """True where the CPU multiplies bf16 natively (not emulated)."""
    import torch

    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def resolve_precision(requested: str) -> Literal["fp32", "bf16"]:
    """``auto`` → ``bf16`` on a CPU with native bf16, else ``fp32``; others pass through."""
    if requested not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {requested!r}")
    if requested == "auto":
        return "bf16" if native_bf16() else "fp32"
    return requested  # type: ignore[return-value]


def autocast(precision: Literal["fp32", "bf16"]) -> AbstractContextManager:
    """The autocast context for ``precision`` (a no-op for fp32)."""
    import torch

    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16")
