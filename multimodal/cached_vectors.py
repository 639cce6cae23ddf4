"""Joint vectors for a whole catalogue from the training feature cache.

The frozen lower layers of both encoders never change after training, and
training has already stored their output for every text and photo
(``multimodal.features``). Running only the trained top layers and heads on
those cached outputs gives the same vectors as ``Embedder`` (to float16
rounding of the cached activations) in a fraction of the time: on two CPU
cores the difference between seconds and several minutes for the real
catalogue. Anything missing from the cache is computed and cached on the way.
Both run in the embedder's precision, as its own methods do: with the
runtime, on its ``text_top`` and ``image_top`` graphs, which start from the
cached token states and trunk maps.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from multimodal.data.catalogue import CleanCatalogue
from multimodal.data.transforms import eval_transform
from multimodal.device import to_device
from multimodal.features import image_trunk_maps, pad_states, text_trunk_states
from multimodal.precision import autocast


def _rows(vectors: torch.Tensor) -> np.ndarray:
    """Float32, re-normalised in fp32, as ``Embedder`` returns them."""
    return F.normalize(vectors.float(), dim=-1).cpu().numpy()


@torch.inference_mode()
def text_vectors(
    embedder, texts: Sequence[str], features_root: Path, batch: int = 64
) -> np.ndarray:
    """``[n, dim]`` text-only joint vectors, as ``embedder.embed_texts`` would give."""
    model = embedder.model.eval()
    with autocast(embedder.precision, embedder.device.type):
        states, _ = text_trunk_states(model.text, list(texts), features_root)
        order = sorted(range(len(states)), key=lambda i: len(states[i]))  # little padding
        out = np.zeros((len(states), embedder.dim), dtype=np.float32)
        for start in range(0, len(order), batch):
            rows = order[start : start + batch]
            hidden, mask = pad_states([states[i] for i in rows], embedder.device)
            if embedder.runtime is not None:
                vectors = embedder.runtime.text_top_vectors(hidden.numpy(), mask.numpy())
                out[rows] = _rows(torch.from_numpy(vectors))
            else:
                out[rows] = _rows(model.text_vectors(hidden, mask))
    return out


@torch.inference_mode()
def photo_vectors(
    embedder, catalogue: CleanCatalogue, image_ids: Sequence[str], features_root: Path,
    batch: int = 64,
) -> np.ndarray:  # fmt: skip
    """``[n, dim]`` photo-only joint vectors, as ``embedder.embed_images`` would give."""
    model = embedder.model.eval()
    preprocess = eval_transform(model.image.cfg.image_size, model.image.normalise)
    paths = [catalogue.image_path(i) for i in image_ids]
    out = np.zeros((len(paths), embedder.dim), dtype=np.float32)
    with autocast(embedder.precision, embedder.device.type):
        maps, _ = image_trunk_maps(model.image, paths, preprocess, features_root)
        for start in range(0, len(maps), batch):
            block = np.stack(maps[start : start + batch]).astype(np.float32)
            if embedder.runtime is not None:
                vectors = torch.from_numpy(embedder.runtime.top_vectors(block))
            else:
                vectors = model.photo_vectors(to_device(torch.from_numpy(block), embedder.device))
            out[start : start + len(block)] = _rows(vectors)
    return out
