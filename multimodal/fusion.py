"""The joint embedding and the category classifier on top of the encoders.

Text features and photo features are projected into one space (default 256-d,
L2-normalised). A listing's photo vector is the normalised mean of its photos'
vectors and its fused vector the normalised sum of its text and photo vectors,
so a listing with only text or only photos still lands in the same space. One
classifier reads any of these joint vectors: text-only, image-only and fused
predictions come from the same head, and so does a query's.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from multimodal.config import FusionConfig


class ProjectionHead(nn.Module):
    """A residual two-layer MLP: a linear map keeps what the backbone already knows."""

    def __init__(self, in_dim: int, hidden: int, out_dim: int, dropout: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(in_dim)
        self.linear = nn.Linear(in_dim, out_dim)
        self.mlp = nn.Sequential(
            nn.Linear(in_dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, out_dim)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(x)
        return F.normalize(self.linear(x) + self.mlp(x), dim=-1)


class FusionHead(nn.Module):
    """Projection heads, photo pooling, fusion and the classifier."""

    def __init__(self, cfg: FusionConfig, text_dim: int, image_dim: int, n_classes: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.text_proj = ProjectionHead(text_dim, cfg.hidden_dim, cfg.embed_dim, cfg.dropout)
        self.image_proj = ProjectionHead(image_dim, cfg.hidden_dim, cfg.embed_dim, cfg.dropout)
        self.classifier = nn.Sequential(
            nn.Linear(cfg.embed_dim, cfg.hidden_dim),
            nn.GELU(),
            nn.Dropout(cfg.dropout),
            nn.Linear(cfg.hidden_dim, n_classes),
        )
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / cfg.init_temperature)))
        # How much the text-only and image-only predictions add to the fused vector's
        # when classifying a listing (log-probabilities summed); tuned on validation
        # after training, saved with the weights. (0, 0): the fused vector alone.
        self.register_buffer("mix_weights", torch.zeros(2))

    @property
    def scale(self) -> torch.Tensor:
        """Contrastive logit scale, capped at 100 as in CLIP so training stays stable."""
        return self.logit_scale.exp().clamp(max=100.0)

    def embed_text(self, feats: torch.Tensor) -> torch.Tensor:
        return self.text_proj(feats)

    def embed_photos(self, feats: torch.Tensor) -> torch.Tensor:
        return self.image_proj(feats)

    @staticmethod
    def pool_photos(photos: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``photos`` [n, k, d] with ``mask`` [n, k] → one normalised vector per listing.

        A listing without photos gets a zero vector, which ``fuse`` ignores.
        """
        summed = (photos * mask.unsqueeze(-1).to(photos.dtype)).sum(1)
        return F.normalize(summed, dim=-1)

    @staticmethod
    def fuse(text: torch.Tensor | None, photos: torch.Tensor | None) -> torch.Tensor:
        """Normalised sum of whichever of the two normalised vectors are present."""
        if text is None and photos is None:
            raise ValueError("fusing needs a text or a photo vector")
        if text is None:
            return F.normalize(photos, dim=-1)
        if photos is None:
            return text
        return F.normalize(text + photos, dim=-1)

    def classify(self, joint: torch.Tensor) -> torch.Tensor:
        return self.classifier(joint)

    def classify_listing(
        self, fused: torch.Tensor, text: torch.Tensor, photos: torch.Tensor, has_image: torch.Tensor
    ) -> torch.Tensor:
        """Log-probabilities for whole listings: the fused vector's prediction, plus the
        text-only and (where there are photos) image-only ones at ``mix_weights``."""
        text_weight, image_weight = self.mix_weights
        out = self.classify(fused).log_softmax(-1) + text_weight * self.classify(text).log_softmax(
            -1
        )
        image = self.classify(photos).log_softmax(-1) * has_image[:, None].to(fused.dtype)
        return (out + image_weight * image).log_softmax(-1)


class MultimodalModel(nn.Module):
    """Text encoder + image encoder + fusion head: the whole model a bundle saves."""

    def __init__(
        self,
        text_encoder: nn.Module,
        image_encoder: nn.Module,
        head: FusionHead,
        word: nn.Module | None = None,
        neighbours: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.text = text_encoder
        self.image = image_encoder
        self.head = head
        self.word = word  # a ``WordChannel`` for classification, or None
        # ``PhotoNeighbours`` for photo-only classification (fitted after training), or None
        self.neighbours = neighbours

    def text_vectors(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Joint vectors from cached (or freshly computed) text trunk states."""
        return self.head.embed_text(self.text.top(hidden, mask))

    def photo_vectors(self, maps: torch.Tensor) -> torch.Tensor:
        """Joint vectors from image trunk maps, one per photo."""
        return self.head.embed_photos(self.image.top(maps))
