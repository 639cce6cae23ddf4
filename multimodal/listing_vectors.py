"""Joint vectors of listings from their cached trunk outputs.

Validation (after every epoch), the tuning after training and evaluation all
read listings through the same path: pooled features from the encoders' tops
(the frozen ones cached for stage 1, or the fine-tuned ones run again), then
the fusion head's text-only, image-only and fused joint vectors.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from multimodal.device import device_of, to_device
from multimodal.features import ListingFeatures, length_order, pad_states
from multimodal.fusion import FusionHead, MultimodalModel
from multimodal.train_data import sample_photo_rows


def top_text_features(
    model: MultimodalModel, feats: ListingFeatures, idx: Sequence[int], batch_size: int = 64
) -> torch.Tensor:
    """Pooled text features through the (possibly fine-tuned) top layers, no grad."""
    model.text.eval()
    idx = list(idx)
    order = length_order([feats.text_states[i] for i in idx])
    out = torch.zeros(len(idx), model.text.dim, device=device_of(model.text))
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            states = [feats.text_states[idx[r]] for r in rows]
            out[rows] = model.text.top(*pad_states(states, out.device))
    return out


def top_photo_features(
    model: MultimodalModel, maps: np.ndarray, batch_size: int = 64
) -> torch.Tensor:
    """Pooled photo features through the (possibly fine-tuned) top blocks, no grad."""
    model.image.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(maps), batch_size):
            chunk = torch.from_numpy(maps[start : start + batch_size].astype(np.float32))
            out.append(model.image.top(to_device(chunk, device_of(model.image))))
    return torch.cat(out) if out else torch.zeros(0, model.image.dim)


def listing_photo_features(
    model: MultimodalModel,
    feats: ListingFeatures,
    idx: Sequence[int],
    pooled: tuple[torch.Tensor, torch.Tensor] | None,
) -> tuple[torch.Tensor, list[np.ndarray]]:
    """Pooled features of the photos of listings ``idx`` and each listing's rows in them.

    With ``pooled`` (stage 1's frozen features) they are read from it; otherwise the
    image tops run on the cached trunk maps.
    """
    rows_all = [feats.photo_rows[i] for i in idx]
    photo_rows = np.concatenate(rows_all) if rows_all else np.zeros(0, np.int64)
    local, start = [], 0
    for r in rows_all:
        local.append(np.arange(start, start + len(r)))
        start += len(r)
    if pooled is not None:
        return pooled[1][torch.from_numpy(photo_rows.astype(np.int64)), 0], local
    return top_photo_features(model, feats.maps[photo_rows]), local


@torch.no_grad()
def joint_vectors(
    head: FusionHead,
    text: torch.Tensor,
    photo_feats: torch.Tensor,
    rows: Sequence[np.ndarray],
) -> dict[str, torch.Tensor]:
    """Text-only, image-only and fused joint vectors of listings, using all their photos.

    ``photo_feats`` holds one feature row per photo; ``rows[i]`` are listing i's rows.
    ``has_image`` marks the listings that have photos.
    """
    head.eval()
    t = head.embed_text(text)
    v, has = photo_joint_vectors(head, photo_feats, rows)
    fused = torch.where(has[:, None], F.normalize(t + v, dim=-1), t)
    return {"text": t, "image": v, "fused": fused, "has_image": has}


@torch.no_grad()
def photo_joint_vectors(
    head: FusionHead, photo_feats: torch.Tensor, rows: Sequence[np.ndarray]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Image-only joint vectors of listings (zero without photos) and which have photos."""
    head.eval()
    per_photo = head.embed_photos(photo_feats) if len(photo_feats) else photo_feats
    most = max((len(r) for r in rows), default=0) or 1
    index, mask = sample_photo_rows(rows, most, rng=None)
    mask = mask.to(photo_feats.device)
    dim = head.cfg.embed_dim
    gathered = per_photo[index] if len(per_photo) else per_photo.new_zeros(len(rows), most, dim)
    return head.pool_photos(gathered, mask), mask.any(1)
