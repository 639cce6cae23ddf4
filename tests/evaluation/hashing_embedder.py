"""A tiny deterministic embedder with the ``Embedder`` interface, for fast tests.

Words are hashed to fixed random directions and photos are projected from a
4x4 colour thumbnail, so similar texts and similar photos really do land near
each other: enough signal for the evaluation to run end to end in a second,
without loading a model. The slow test uses the real bundle.
"""

from __future__ import annotations

import re
import zlib

import numpy as np
from PIL import Image

DIM = 32


def _unit(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return (rows / np.where(norms == 0, 1, norms)).astype(np.float32)


class HashingEmbedder:
    fingerprint = "hashing-test-embedder"
    dim = DIM

    def __init__(self) -> None:
        self.backbones = {"text": "hashed words", "image": "4x4 thumbnail"}
        self._pixels = np.random.default_rng(0).standard_normal((48, DIM)).astype(np.float32)

    def _word(self, word: str) -> np.ndarray:
        return np.random.default_rng(zlib.crc32(word.encode())).standard_normal(DIM)

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        rows = np.zeros((len(texts), DIM), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                rows[i] += self._word(word)
        return _unit(rows)

    def embed_images(self, images: list[Image.Image]) -> np.ndarray:
        thumbs = [
            np.asarray(im.convert("RGB").resize((4, 4)), np.float32).reshape(-1) / 255
            for im in images
        ]
        return _unit((np.stack(thumbs) - 0.5) @ self._pixels)

    def embed_query(self, text: str | None, image: Image.Image | None) -> np.ndarray:
        parts = []
        if text:
            parts.append(self.embed_texts([text])[0])
        if image is not None:
            parts.append(self.embed_images([image])[0])
        return _unit(np.sum(parts, axis=0)[None, :])[0]
