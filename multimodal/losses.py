"""The training losses: category cross-entropy and InfoNCE contrastive terms."""

from __future__ import annotations

import torch
import torch.nn.functional as F

LABEL_SMOOTHING = 0.1  # the categories are noisy ("Other Goods" overlaps everything)


def category_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits, labels, label_smoothing=LABEL_SMOOTHING)


def info_nce(
    queries: torch.Tensor,
    keys: torch.Tensor,
    scale: torch.Tensor,
    same: torch.Tensor | None = None,
) -> torch.Tensor:
    """One-way InfoNCE: row i of ``queries`` should pick row i of ``keys`` in the batch.

    ``same[i, j]`` marks other keys that are just as right for query i (a re-posted
    ad with identical text): they are left out of the negatives instead of punished.
    """
    logits = scale * queries @ keys.T
    if same is not None:
        eye = torch.eye(len(queries), dtype=torch.bool, device=queries.device)
        logits = logits.masked_fill(same & ~eye, float("-inf"))
    return F.cross_entropy(logits, torch.arange(len(queries), device=queries.device))


def symmetric_info_nce(
    a: torch.Tensor, b: torch.Tensor, scale: torch.Tensor, same: torch.Tensor | None = None
) -> torch.Tensor:
    """CLIP's loss: a finds b and b finds a (text → photo and photo → text)."""
    same_t = same.T if same is not None else None
    return 0.5 * (info_nce(a, b, scale, same) + info_nce(b, a, scale, same_t))
