"""A nearest-neighbour vote over the training listings' photos, for photo-only predictions.

The photo features come from a frozen ImageNet backbone (only its last block
adapts), and they separate a marketplace's root categories poorly: a sofa, a wardrobe and a
box of books photographed in the same living room land close together. The
classifier head has to draw one boundary through that tangle and so averages
away what is the strongest evidence there is: the handful of *training* photos
nearest to this one, which often show the very same kind of item (re-listed
stock, the same product photographed by another seller). On the real data the
vote of the nearest training listings' image vectors classifies validation
photos better than the head does.

``PhotoNeighbours`` keeps those vectors and labels as buffers, so a bundle
carries them in its state dict; ``blend`` mixes the vote into the head's
image-only prediction at a weight tuned on validation by ``fit``. Text-only
and fused predictions do not use it: there the text decides.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from multimodal.config import NeighbourGrid

# Every class keeps this much of the vote before renormalising, so a class none of
# the k neighbours has is unlikely, not impossible (its log-probability stays finite
# and a blend with the head can still choose it).
FLOOR = 1e-3
PREFIX = "neighbours."  # where a ``MultimodalModel`` keeps it in its state dict
CHUNK = 1024  # query rows per similarity block, so memory stays small for any batch


class PhotoNeighbours(nn.Module):
    """Training listings' image-only joint vectors and labels, and how to vote with them.

    ``vectors`` are stored in float16 (half the bundle space; the vote is computed
    in float32). ``k``, ``temperature`` and ``weight`` are buffers too, so the
    settings ``fit`` chose travel with the weights; until ``set`` (or a loaded state
    dict) gives them, ``weight`` 0 keeps the vote out of every prediction.
    """

    def __init__(self, n: int, dim: int, n_classes: int) -> None:
        super().__init__()
        self.n_classes = n_classes
        self.register_buffer("vectors", torch.zeros(n, dim, dtype=torch.float16))
        self.register_buffer("labels", torch.zeros(n, dtype=torch.long))
        self.register_buffer("k", torch.tensor(1))
        self.register_buffer("temperature", torch.tensor(1.0))
        self.register_buffer("weight", torch.zeros(()))

    @classmethod
    def of(cls, vectors: torch.Tensor, labels: torch.Tensor, n_classes: int) -> PhotoNeighbours:
        """Neighbours holding ``vectors`` ``[n, d]`` (L2-normalised) with class ``labels``."""
        out = cls(len(vectors), vectors.shape[1], n_classes)
        out.vectors.copy_(vectors.detach().to(torch.float16))
        out.labels.copy_(labels.detach().long())
        return out

    @classmethod
    def from_state(
        cls, state: Mapping[str, torch.Tensor], n_classes: int
    ) -> PhotoNeighbours | None:
        """Sized from a model's saved state dict; None for a bundle saved without them."""
        vectors = state.get(PREFIX + "vectors")
        if vectors is None:
            return None
        return cls(vectors.shape[0], vectors.shape[1], n_classes)

    def set(self, k: int, temperature: float, weight: float) -> None:
        self.k.fill_(k)
        self.temperature.fill_(temperature)
        self.weight.fill_(weight)

    def settings(self) -> dict[str, float]:
        return {
            "k": int(self.k),
            "temperature": float(self.temperature),
            "weight": float(self.weight),
        }

    @torch.no_grad()
    def nearest(self, queries: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Cosine similarities ``[m, k]`` (best first) and labels of each query's k nearest."""
        k = min(k, len(self.vectors))
        with torch.autocast("cpu", enabled=False):
            stored = self.vectors.float()
            queries = F.normalize(queries.float(), dim=-1)
            sims, rows = [], []
            for start in range(0, len(queries), CHUNK):
                top = (queries[start : start + CHUNK] @ stored.T).topk(k, dim=1)
                sims.append(top.values)
                rows.append(top.indices)
        if not sims:
            return torch.zeros(0, k), torch.zeros(0, k, dtype=torch.long)
        return torch.cat(sims), self.labels[torch.cat(rows)]

    def vote(self, sims: torch.Tensor, labels: torch.Tensor, temperature: float) -> torch.Tensor:
        """``[m, classes]`` log of the neighbours' votes, each weighted exp(cosine / temperature),
        normalised, floored at ``FLOOR`` per class."""
        weights = ((sims - sims[:, :1]) / temperature).exp()  # the shift cancels in the norm
        votes = torch.zeros(len(sims), self.n_classes).scatter_add_(1, labels, weights)
        votes = votes / votes.sum(1, keepdim=True).clamp_min(1e-30)
        return ((votes + FLOOR) / (1 + self.n_classes * FLOOR)).log()

    @torch.no_grad()
    def log_probs(self, image_vectors: torch.Tensor) -> torch.Tensor:
        """``[m, classes]`` log-probabilities of the vote for image-only joint vectors."""
        sims, labels = self.nearest(image_vectors, int(self.k))
        return self.vote(sims, labels, float(self.temperature))

    @staticmethod
    def mix(head_log_probs: torch.Tensor, vote: torch.Tensor, weight: float) -> torch.Tensor:
        """``(1 - weight)`` of the head's log-probabilities plus ``weight`` of the vote's."""
        head = head_log_probs.float().log_softmax(-1)
        return ((1 - weight) * head + weight * vote).log_softmax(-1)

    @torch.no_grad()
    def blend(self, head_log_probs: torch.Tensor, image_vectors: torch.Tensor) -> torch.Tensor:
        """The image-only prediction: the head's log-probabilities (or logits) for
        ``image_vectors`` with the vote mixed in at ``weight``; at weight 0 the head's
        own (log-softmaxed), without searching at all."""
        weight = float(self.weight)
        if weight == 0:
            return head_log_probs.float().log_softmax(-1)
        return self.mix(head_log_probs, self.log_probs(image_vectors), weight)


@dataclass(frozen=True)
class Fit:
    """What ``fit`` chose and the validation image-only accuracy without and with it."""

    k: int
    temperature: float
    weight: float
    val_before: float
    val_after: float
    train_listings: int

    def to_dict(self) -> dict[str, float]:
        return {
            "k": self.k,
            "temperature": self.temperature,
            "weight": self.weight,
            "val_image_before": self.val_before,
            "val_image_after": self.val_after,
            "train_listings": self.train_listings,
        }


@torch.no_grad()
def fit(
    train_vectors: torch.Tensor,
    train_labels: torch.Tensor,
    n_classes: int,
    val_vectors: torch.Tensor,
    val_labels: torch.Tensor,
    val_head_logits: torch.Tensor,
    grid: NeighbourGrid | None = None,
) -> tuple[PhotoNeighbours, Fit]:
    """Neighbours of the training listings that have photos, with the ``grid.k`` ×
    ``grid.temperature`` × ``grid.weight`` settings of best validation image-only
    accuracy. Ties keep the simplest: weight 0 (off) before any vote, a lower weight
    before a higher one, then the smaller k and temperature.

    ``train_vectors`` are image-only joint vectors (a listing without photos has a
    zero one and is left out); ``val_*`` are the validation listings *with* photos
    and the head's image-only logits for them. The nearest ``max(grid.k)`` are found once; each
    setting only re-weights them, so the search costs a few matrix products.
    """
    grid = grid or NeighbourGrid()
    keep = train_vectors.float().norm(dim=1) > 0.5
    neighbours = PhotoNeighbours.of(train_vectors[keep], train_labels[keep], n_classes)
    head = val_head_logits.float().log_softmax(-1)

    def accuracy(log_probs: torch.Tensor) -> float:
        return float((log_probs.argmax(1) == val_labels).float().mean()) if len(val_labels) else 0.0

    before = accuracy(head)
    best, best_acc = (grid.k[0], grid.temperature[0], 0.0), before
    if len(val_labels) and keep.any():
        sims, labels = neighbours.nearest(val_vectors, max(grid.k))
        votes = {
            (k, t): neighbours.vote(sims[:, :k], labels[:, :k], t)
            for k, t in itertools.product(grid.k, grid.temperature)
        }
        for weight in grid.weight[1:]:
            for (k, temperature), vote in votes.items():
                acc = accuracy(neighbours.mix(head, vote, weight))
                if acc > best_acc + 1e-9:
                    best, best_acc = (k, temperature, weight), acc
    neighbours.set(*best)
    chosen = Fit(*best, before, best_acc, len(neighbours.vectors))
    return neighbours, chosen
