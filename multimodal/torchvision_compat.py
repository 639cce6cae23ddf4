"""Import torchvision on a CPU-only torch build whose C++ ops are missing.

The torchvision wheel here registers Python fake kernels for ``torchvision::nms``
at import time, which fails with "operator torchvision::nms does not exist" when
its compiled extension does not match torch. Declaring the two op schemas first
lets the import finish; we never call those detection ops, only the models.
Where torchvision imports normally this is a plain import.
"""

from __future__ import annotations

import types

import torch

_NMS_SCHEMA = "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor"
# Held at module level: dropping the Library object would unregister the ops.
_LIBRARY: torch.library.Library | None = None


def import_torchvision() -> types.ModuleType:
    """Return the ``torchvision`` module, declaring its missing ops if needed."""
    global _LIBRARY
    try:
        import torchvision
    except RuntimeError as exc:
        if "torchvision::nms does not exist" not in str(exc):
            raise
        if _LIBRARY is None:
            _LIBRARY = torch.library.Library("torchvision", "DEF")
            _LIBRARY.define(f"nms{_NMS_SCHEMA}")
            _LIBRARY.define(f"qnms{_NMS_SCHEMA}")
        import torchvision
    return torchvision
