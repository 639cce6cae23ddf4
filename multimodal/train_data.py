"""What training reads: cached features of the listings with their labels and split,
and the batches of encoder outputs that the losses take."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import torch

from multimodal.device import to_device
from multimodal.features import ListingFeatures


@dataclass
class TrainData:
    feats: ListingFeatures
    labels: torch.Tensor  # per listing in ``feats``
    train_idx: list[int]
    val_idx: list[int]
    label_names: list[str]
    word_log_probs: torch.Tensor | None = None  # per listing, from the fitted word channel


@dataclass
class Batch:
    """Encoder outputs for a batch of listings, before the fusion head."""

    text: torch.Tensor  # [B, text_dim]
    photos: torch.Tensor  # [B, P, image_dim]
    mask: torch.Tensor  # [B, P] bool
    labels: torch.Tensor  # [B]
    same_text: torch.Tensor  # [B, B] bool: identical texts (re-posted ads)

    def to(self, device: torch.device) -> Batch:
        """The batch on ``device`` (pinned, asynchronous copies to a GPU; as is on the CPU)."""
        return Batch(**{f.name: to_device(getattr(self, f.name), device) for f in fields(self)})


def sample_photo_rows(
    rows: Sequence[np.ndarray], per_listing: int, rng: np.random.Generator | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Up to ``per_listing`` photo rows per listing (random ones when ``rng`` is given)."""
    index = torch.zeros(len(rows), per_listing, dtype=torch.long)
    mask = torch.zeros(len(rows), per_listing, dtype=torch.bool)
    for i, own in enumerate(rows):
        chosen = rng.permutation(own)[:per_listing] if rng is not None else own[:per_listing]
        index[i, : len(chosen)] = torch.from_numpy(np.asarray(chosen, dtype=np.int64))
        mask[i, : len(chosen)] = True
    return index, mask


def same_text_matrix(keys: Sequence[str]) -> torch.Tensor:
    """``[n, n]`` bool: which listings of a batch have the same text (by text key)."""
    codes = {k: i for i, k in enumerate(dict.fromkeys(keys))}
    ids = torch.tensor([codes[k] for k in keys])
    return ids[:, None] == ids[None, :]
