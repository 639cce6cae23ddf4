"""Second-order texture statistics of a photo: the Gram matrix of a trunk's mid map.

Which channels fire together, wherever they fire: two photos of one item from
different sides share little layout but the same surface, finish and lighting.
The feature cache stores these statistics beside the trunk maps (one trunk pass
gives both), and the instance descriptors of query photos compute them afresh,
so both use this one function.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from multimodal.config import InstanceConfig

if TYPE_CHECKING:
    import torch


def texture_statistics(
    mid: torch.Tensor, channels: int = InstanceConfig().texture_channels
) -> np.ndarray:
    """``[n, g(g+1)/2]`` signed-square-rooted, unit-length Gram matrices of mid maps
    ``[n, c, h, w]`` (a torch tensor), channels averaged in groups down to ``g``
    (at most ``channels``)."""
    import torch

    x = mid.float()
    n, c = x.shape[:2]
    groups = min(c, channels)
    if c % groups:
        raise ValueError(f"{c} mid-map channels do not split into {groups} groups")
    x = x.reshape(n, groups, c // groups, -1).mean(dim=2)
    gram = torch.bmm(x, x.transpose(1, 2)) / x.shape[2]
    rows, cols = torch.triu_indices(groups, groups)
    upper = gram[:, rows, cols]
    signed = (upper.sign() * upper.abs().sqrt()).numpy()
    norms = np.clip(np.linalg.norm(signed, axis=-1, keepdims=True), 1e-9, None)
    return (signed / norms).astype(np.float32)
