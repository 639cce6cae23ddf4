"""Map a batch of work items to vectors with the model.

Each listing gets its fused vector (what search ranks) and each of its photos
a photo-only vector (what photo-to-listing retrieval and its evaluation use).
JPEG decoding is split from the model call so an executor can decode the next
batch while the current one is in the encoders.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from indexing.reindex.reader import Item
from multimodal.data.catalogue import IMAGES_DIR, CleanCatalogue

Photos = list[list[Image.Image]]
MODEL_MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Encoded:
    """The vectors of one batch, keyed by fid and image fid."""

    fids: np.ndarray  # [n] int64
    vectors: np.ndarray  # [n, dim] float32
    image_fids: np.ndarray  # [m] int64
    image_vectors: np.ndarray  # [m, dim] float32


def load_photos(items: Sequence[Item]) -> Photos:
    """Decode every item's photos to RGB (the slow, GIL-releasing part of reading)."""
    photos = []
    for item in items:
        own = []
        for path in item.image_paths:
            with Image.open(path) as image:
                own.append(image.convert("RGB"))
        photos.append(own)
    return photos


@dataclass(frozen=True)
class ModelIdentity:
    """What an index records about the model that embedded it."""

    fingerprint: str
    dim: int
    backbones: dict[str, str]


def read_model_identity(model_dir: Path) -> ModelIdentity:
    """The identity of a saved model, from its ``manifest.json`` alone.

    Reading the JSON (rather than loading the bundle) keeps a reindex with
    nothing to embed from ever importing torch or loading weights.
    """
    path = model_dir / MODEL_MANIFEST
    try:
        raw = json.loads(path.read_text())
        return ModelIdentity(
            fingerprint=str(raw["fingerprint"]),
            dim=int(raw["config"]["fusion"]["embed_dim"]),
            backbones=dict(raw["backbones"]),
        )
    except FileNotFoundError:
        raise FileNotFoundError(f"no model at {model_dir}: run `marketplace train` first") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path} is not a model manifest: {exc}") from exc


class Mapper:
    """Embeds batches with one loaded model; cheap to call, expensive to build."""

    def __init__(self, embedder) -> None:
        self.embedder = embedder

    def identity(self) -> ModelIdentity:
        e = self.embedder
        return ModelIdentity(e.fingerprint, int(e.dim), dict(e.backbones))

    @classmethod
    def load(
        cls,
        model_dir: Path,
        torch_threads: int,
        precision: str = "auto",
        device: str = "cpu",
        engine: str = "auto",
    ) -> Mapper:
        import torch

        from multimodal.embedder import Embedder

        torch.set_num_threads(torch_threads)
        return cls(Embedder.load(model_dir, precision, device=device, engine=engine))

    def __call__(self, items: Sequence[Item], photos: Photos) -> Encoded:
        """Fused vectors per listing and photo-only vectors per photo, from one pass.

        Each photo goes through the image encoder once: its photo-only vector
        is kept, and the listing's fused vector is built from it and the text
        vector (see ``fuse``).
        """
        texts = self.embedder.embed_texts([item.text for item in items])
        flat = [image for own in photos for image in own]
        image_vectors = self.embedder.embed_images(flat) if flat else None
        return fuse(items, texts, image_vectors, self.embedder.dim)

    def from_features(self, items: Sequence[Item], features_dir: Path) -> Encoded | None:
        """All items at once from the training feature cache (``multimodal.cached_vectors``).

        The frozen lower layers' outputs that training stored are reused, so
        only the trained top layers run: the same vectors as ``__call__`` to
        float16 rounding, in a fraction of the time. Whatever is missing is
        computed and added to that cache. None when the photos are not in a
        cleaned catalogue's ``images/`` folder (the cache is keyed from there).
        """
        from multimodal.cached_vectors import photo_vectors, text_vectors

        paths = [Path(p) for item in items for p in item.image_paths]
        if paths and any(p.parent.name != IMAGES_DIR or p.parent != paths[0].parent for p in paths):
            return None
        texts = text_vectors(self.embedder, [item.text for item in items], features_dir)
        image_vectors = None
        if paths:
            catalogue = CleanCatalogue(root=paths[0].parent.parent, listings=())
            image_ids = [p.stem for p in paths]
            image_vectors = photo_vectors(self.embedder, catalogue, image_ids, features_dir)
        return fuse(items, texts, image_vectors, self.embedder.dim)


def fuse(
    items: Sequence[Item], texts: np.ndarray, image_vectors: np.ndarray | None, dim: int
) -> Encoded:
    """Each listing's fused vector from its text vector and its photos' vectors.

    Uses the model's own pooling and fusion (``FusionHead``), the same two
    steps ``Embedder.embed_listings`` takes, so the photos need not go
    through the image encoder a second time.
    """
    import torch

    from multimodal.fusion import FusionHead

    image_vectors = np.zeros((0, dim), np.float32) if image_vectors is None else image_vectors
    fused, start = [], 0
    with torch.inference_mode():
        for text, item in zip(torch.from_numpy(texts), items, strict=True):
            count = len(item.image_paths)
            if not count:
                fused.append(text)
                continue
            own = torch.from_numpy(image_vectors[start : start + count])
            start += count
            mask = torch.ones(1, count, dtype=torch.bool)
            pooled = FusionHead.pool_photos(own.unsqueeze(0), mask)[0]
            fused.append(FusionHead.fuse(text, pooled))
    return Encoded(
        fids=np.array([item.fid for item in items], dtype=np.int64),
        vectors=np.stack([v.numpy() for v in fused]).astype(np.float32).reshape(-1, dim),
        image_fids=np.array([f for item in items for f in item.image_fids], dtype=np.int64),
        image_vectors=np.asarray(image_vectors, dtype=np.float32).reshape(-1, dim),
    )
