"""A model bundle from the pretrained encoders alone: the first page, before training.

Training a model on a 2-core CPU takes many minutes; the pretrained MiniLM
already gives useful sentence vectors. ``build_frozen_bundle`` saves a bundle
whose encoders are the pretrained ones and whose text projection is fitted in
seconds without labels: the top principal directions of the catalogue's
layer-normalised MiniLM sentence vectors (a linear map, with the MLP branch of
the ``ProjectionHead`` zeroed), so cosines between texts stay close to
MiniLM's own. The image projection and the classifier are untrained: the
bundle serves text only, and its manifest says so (``training.frozen``,
``training.serves``). Its index holds text and keyword channels only
(``indexing.first_index``).

Encoding every text goes through the runtime (``multimodal.runtime.
frozen_features``), which caches the frozen layers' token states for training
on the way: the trained model's training then starts with its texts encoded.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from multimodal.bundle import Manifest, new_model, save_bundle
from multimodal.config import ModelConfig
from multimodal.data.labels import LabelEncoder
from multimodal.progress import Progress

FROZEN_MODEL_DIR = "model-frozen"
# What a frozen bundle can serve: text queries (dense text vectors and BM25).
FROZEN_SERVES = ["text", "lexical"]


def frozen_model_dir(workspace_root: Path) -> Path:
    """Where a workspace keeps its frozen bundle (beside the trained ``model/``)."""
    return workspace_root / FROZEN_MODEL_DIR


def is_frozen(manifest_training: dict) -> bool:
    """Whether a bundle's manifest ``training`` section says it is a frozen bundle."""
    return bool(manifest_training.get("frozen"))


def _fit_text_projection(model, pooled: np.ndarray, seed: int) -> None:
    """Set the text head to ``normalise(P · layer_norm(x))``, P the top principal
    directions of the layer-normalised pooled vectors (centred by the bias)."""
    head = model.head.text_proj
    dim = head.linear.out_features
    with torch.no_grad():
        x = head.norm(torch.from_numpy(pooled)).double()
        mean = x.mean(0)
        if len(x) > dim:
            _, _, components = torch.linalg.svd(x - mean, full_matrices=False)
            basis = components[:dim]
        else:  # too few texts for a basis: an orthonormal random one
            generator = torch.Generator().manual_seed(seed)
            q, _ = torch.linalg.qr(torch.randn(x.shape[1], dim, generator=generator).double())
            basis = q.T
        head.linear.weight.copy_(basis.float())
        head.linear.bias.copy_((-basis @ mean).float())
        last = head.mlp[-1]
        last.weight.zero_()
        last.bias.zero_()


def build_frozen_bundle(
    texts: Sequence[str],
    roots: Sequence[str],
    directory: Path,
    features_root: Path,
    model_cfg: ModelConfig,
    threads: int,
    progress: Progress,
    seed: int = 0,
) -> tuple[Manifest, np.ndarray]:
    """Save the frozen bundle of a catalogue (its listings' ``texts`` and root
    categories, ``roots``) in ``directory``; returns its manifest and the texts'
    vectors (``[n, dim]``, normalised, in order)."""
    from multimodal.runtime.frozen_features import encode_texts

    started = time.perf_counter()
    torch.manual_seed(seed)
    labels = LabelEncoder.fit(roots)
    model = new_model(model_cfg, len(labels)).eval()
    pooled, _ = encode_texts(model, texts, features_root, threads, progress, pooled=True)
    _fit_text_projection(model, pooled, seed)
    with torch.no_grad():
        vectors = model.head.embed_text(torch.from_numpy(pooled)).numpy()
    manifest = save_bundle(
        directory,
        model,
        model_cfg,
        labels,
        data={"listings": len(texts)},
        metrics={},
        training={
            "frozen": True,
            "serves": FROZEN_SERVES,
            "timings": {"total_seconds": time.perf_counter() - started},
        },
    )
    return manifest, np.ascontiguousarray(vectors, dtype=np.float32)
