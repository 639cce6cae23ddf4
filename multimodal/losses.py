"""The training losses: category cross-entropy and InfoNCE contrastive terms, and the
joint loss of a batch of listings that combines them.

The loss on every batch of listings is

- cross-entropy on the root category, read from the text-only, photo-only and
  fused joint vectors (one classifier serves all three);
- a symmetric InfoNCE between each listing's text and its photos, so a text
  query finds photos and a photo finds texts;
- for listings with two photos, a photo → listing term (one photo must find
  its listing fused from the text and the *other* photo) and a photo ↔ photo
  term, so a buyer's own photo of an item finds its listing;
- a small term pulling each listing towards the text vector of its category's
  name, so a query like "Home & Garden" finds such listings.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from multimodal.config import TrainConfig
from multimodal.fusion import FusionHead
from multimodal.train_data import Batch


def category_loss(
    logits: torch.Tensor, labels: torch.Tensor, label_smoothing: float
) -> torch.Tensor:
    return F.cross_entropy(logits, labels, label_smoothing=label_smoothing)


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


def joint_losses(
    head: FusionHead, batch: Batch, names: torch.Tensor, cfg: TrainConfig
) -> dict[str, torch.Tensor]:
    """All loss terms for one batch; ``names`` are text features of the category names."""
    b, p, d = batch.photos.shape
    text = head.embed_text(batch.text)
    photos = head.embed_photos(batch.photos.reshape(b * p, d)).reshape(b, p, -1)
    has = batch.mask.any(1)
    pooled = head.pool_photos(photos, batch.mask)
    fused = torch.where(has[:, None], F.normalize(text + pooled, dim=-1), text)
    y = batch.labels

    def ce_of(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return category_loss(logits, labels, cfg.label_smoothing)

    ce = ce_of(head.classify(text), y) + ce_of(head.classify(fused), y)
    ce = ce + (ce_of(head.classify(pooled[has]), y[has]) if has.any() else 0.0)
    scale = head.scale
    zero = text.new_zeros(())
    text_photo = (
        symmetric_info_nce(text[has], pooled[has], scale, batch.same_text[has][:, has])
        if has.sum() > 1
        else zero
    )
    two = batch.mask[:, 1] if p > 1 else torch.zeros(b, dtype=torch.bool)
    if two.sum() > 1:
        first, second = photos[two, 0], photos[two, 1]
        others = F.normalize(text[two] + second, dim=-1)
        same = batch.same_text[two][:, two]
        photo_listing = 0.5 * (
            info_nce(first, others, scale, same) + symmetric_info_nce(first, second, scale, same)
        )
    else:
        photo_listing = zero
    name_vectors = head.embed_text(names)
    label_name = ce_of(scale * fused @ name_vectors.T, y)
    total = (
        cfg.ce_weight * ce / 3
        + cfg.text_photo_weight * text_photo
        + cfg.photo_listing_weight * photo_listing
        + cfg.label_name_weight * label_name
    )
    return {
        "total": total,
        "ce": ce.detach() / 3,
        "text_photo": text_photo.detach(),
        "photo_listing": photo_listing.detach(),
        "label_name": label_name.detach(),
    }
