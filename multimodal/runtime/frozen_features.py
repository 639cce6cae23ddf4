"""The frozen encoders on ONNX Runtime, filling training's feature cache.

Encoding every text and photo with the frozen lower layers is most of a cold
training run on a CPU: with eager torch in fp32, about 27 photos/s on two
cores, against 116 on the runtime (``docs/runtime.md``). These graphs are the
*pretrained* encoders' frozen parts, so the same outputs serve training
(``multimodal.features`` caches them under the same keys and namespaces) and
the first, frozen index (``multimodal.frozen``), which also needs each text's
pooled vector from the pretrained upper layers:

- ``frozen_text.onnx``: token ids and mask → the trunk's token states (what
  training caches) and the pooled output of the pretrained top layers;
- ``frozen_image_trunk.onnx``: pixels → the trunk's map and its stride-16 map
  (the texture statistics are computed from the latter, as in training);
- ``frozen_text_top.onnx`` and ``frozen_image_top.onnx``: cached token states
  and trunk maps → the pretrained tops' pooled outputs, the photo's and its
  mirror image's (stage 1's inputs, ``multimodal.features.frozen_pooled``):
  on the Xeon the real catalogue's pooling step takes about 30 s on them,
  against 50–64 s in torch.

The graphs are fp32 and cached under the feature folder, keyed by the encoders'
fingerprints. Outputs are stored as float16, exactly as the torch path stores them.
"""

from __future__ import annotations

import hashlib
import logging
import time
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from torch import nn

from multimodal.config import InstanceConfig
from multimodal.features import (
    CHUNK_ITEMS,
    FeatureCache,
    file_key,
    image_texture_namespace,
    image_trunk_namespace,
    text_key,
    text_trunk_namespace,
)
from multimodal.progress import Progress
from multimodal.runtime.cache import torch_instead, write_atomically
from multimodal.runtime.export import export_graph
from multimodal.runtime.session import runtime_session
from multimodal.texture import texture_statistics

log = logging.getLogger(__name__)

TEXT_GRAPH = "frozen_text.onnx"
IMAGE_GRAPH = "frozen_image_trunk.onnx"
TEXT_TOP_GRAPH = "frozen_text_top.onnx"
IMAGE_TOP_GRAPH = "frozen_image_top.onnx"
GRAPHS = (TEXT_GRAPH, IMAGE_GRAPH, TEXT_TOP_GRAPH, IMAGE_TOP_GRAPH)


class _TextGraph(nn.Module):
    def __init__(self, encoder) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        hidden = self.encoder.trunk(input_ids, attention_mask)
        return hidden, self.encoder.top(hidden, attention_mask)


class _TextTopGraph(nn.Module):
    def __init__(self, encoder) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.encoder.top(hidden, attention_mask)


class _ImageGraph(nn.Module):
    def __init__(self, encoder) -> None:
        super().__init__()
        self.trunk = encoder.trunk

    def forward(self, pixels: torch.Tensor):
        return self.trunk.forward_with_mid(pixels)


class _ImageTopGraph(nn.Module):
    def __init__(self, encoder) -> None:
        super().__init__()
        self.top = encoder.top

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.top(maps), self.top(torch.flip(maps, dims=[3]))], dim=1)


def graphs_dir(model, root: Path) -> Path:
    """Where the frozen graphs of ``model``'s encoders live under the feature folder."""
    digest = hashlib.sha1(
        f"{model.text.fingerprint}|{model.image.trunk_fingerprint}".encode()
    ).hexdigest()[:16]
    return root / f"onnx-frozen-{digest}"


def ensure_graphs(model, root: Path) -> Path:
    """Export the frozen graphs of ``model`` (pretrained, fp32) unless cached."""
    target = graphs_dir(model, root)
    if _complete(target):
        return target
    started = time.perf_counter()
    write_atomically(target, lambda tmp: _export_graphs(model, tmp), _complete)
    log.info("exported the frozen encoders to %s in %.1f s", target, time.perf_counter() - started)
    return target


def _complete(directory: Path) -> bool:
    return all((directory / graph).is_file() for graph in GRAPHS)


def _export_graphs(model, directory: Path) -> None:
    ids = torch.ones(2, 7, dtype=torch.long)
    mask = torch.ones_like(ids)
    size = model.image.cfg.image_size
    pixels = torch.zeros(2, 3, size, size)
    model.eval()
    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on shape-fixed branches
        export_graph(
            _TextGraph(model.text),
            (ids, mask),
            directory / TEXT_GRAPH,
            ["input_ids", "attention_mask"],
            ["hidden", "pooled"],
            {
                "input_ids": {0: "batch", 1: "tokens"},
                "attention_mask": {0: "batch", 1: "tokens"},
                "hidden": {0: "batch", 1: "tokens"},
                "pooled": {0: "batch"},
            },
        )
        export_graph(
            _ImageGraph(model.image),
            (pixels,),
            directory / IMAGE_GRAPH,
            ["pixels"],
            ["maps", "mid"],
            {"pixels": {0: "batch"}, "maps": {0: "batch"}, "mid": {0: "batch"}},
        )
        export_graph(
            _TextTopGraph(model.text),
            (model.text.trunk(ids, mask), mask),
            directory / TEXT_TOP_GRAPH,
            ["hidden", "attention_mask"],
            ["pooled"],
            {"hidden": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"}},
        )
        maps, _ = model.image.trunk.forward_with_mid(pixels)
        export_graph(
            _ImageTopGraph(model.image),
            (maps,),
            directory / IMAGE_TOP_GRAPH,
            ["maps"],
            ["pooled"],
            {"maps": {0: "batch"}, "pooled": {0: "batch"}},
        )


def encode_texts(
    model,
    texts: Sequence[str],
    root: Path,
    threads: int,
    progress: Progress,
    pooled: bool = False,
) -> tuple[np.ndarray | None, int]:
    """Cache the trunk states of every text ``root``'s cache lacks, and say how many
    that was; with ``pooled``, run every text and return their pooled vectors
    ``[n, text_dim]`` (float32) too."""
    cache = FeatureCache(root, text_trunk_namespace(model.text))
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    if not pooled:
        seen: set[str] = set()
        order = [
            i
            for i in order
            if (key := text_key(texts[i])) not in cache and not (key in seen or seen.add(key))
        ]
    out = np.zeros((len(texts), model.text.dim), np.float32) if pooled else None
    if not order:
        return out, 0
    session = runtime_session(ensure_graphs(model, root) / TEXT_GRAPH, threads)
    batch_size = model.text.cfg.batch_size
    pending: dict[str, np.ndarray] = {}
    written = 0
    started = time.perf_counter()
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        enc = model.text.tokenize([texts[i] for i in rows])
        ids, mask = enc["input_ids"].numpy(), enc["attention_mask"].numpy()
        hidden, vectors = session.run(None, {"input_ids": ids, "attention_mask": mask})
        for row, i in enumerate(rows):
            key = text_key(texts[i])
            if key not in cache:
                pending[key] = hidden[row, : int(mask[row].sum())].astype(np.float16)
        if out is not None:
            out[rows] = vectors
        if len(pending) >= CHUNK_ITEMS:
            written += len(pending)
            cache.put(pending)
            pending = {}
        progress.update("encoding texts", min(start + batch_size, len(order)), len(order))
    new = len(pending) + written
    cache.put(pending)
    cache.record(new, time.perf_counter() - started)
    return out, new


def _pixels(paths: Sequence[Path], preprocess) -> np.ndarray:
    from PIL import Image

    rows = []
    for path in paths:
        with Image.open(path) as img:
            rows.append(preprocess(img.convert("RGB")))
    return torch.stack(rows).numpy()


def encode_photos(
    model,
    paths: Sequence[Path],
    root: Path,
    threads: int,
    progress: Progress,
    texture_channels: int = InstanceConfig().texture_channels,
) -> int:
    """Cache the trunk maps and texture statistics of every photo ``root``'s cache
    lacks; returns how many were encoded. The next batch's JPEGs are decoded in a
    thread while the runtime encodes this one."""
    from multimodal.data.transforms import eval_transform

    maps_cache = FeatureCache(root, image_trunk_namespace(model.image))
    textures = FeatureCache(root, image_texture_namespace(model.image, texture_channels))
    todo: dict[str, Path] = {}
    for path in paths:
        key = file_key(path)
        if key not in maps_cache and key not in todo:
            todo[key] = path
    if not todo:
        return 0
    session = runtime_session(ensure_graphs(model, root) / IMAGE_GRAPH, threads)
    preprocess = eval_transform(model.image.cfg.image_size, model.image.normalise)
    keys = list(todo)
    batch_size = model.image.cfg.batch_size
    batches = [keys[start : start + batch_size] for start in range(0, len(keys), batch_size)]
    maps_pending: dict[str, np.ndarray] = {}
    stats_pending: dict[str, np.ndarray] = {}
    started = time.perf_counter()
    done = 0
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="photo-decoder") as pool:
        upcoming = pool.submit(_pixels, [todo[k] for k in batches[0]], preprocess)
        for position, batch in enumerate(batches):
            pixels = upcoming.result()
            if position + 1 < len(batches):
                upcoming = pool.submit(
                    _pixels, [todo[k] for k in batches[position + 1]], preprocess
                )
            maps, mid = session.run(None, {"pixels": pixels})
            stats = texture_statistics(torch.from_numpy(mid), texture_channels)
            maps_pending.update(zip(batch, maps.astype(np.float16), strict=True))
            stats_pending.update(zip(batch, stats.astype(np.float16), strict=True))
            if len(maps_pending) >= CHUNK_ITEMS:
                maps_cache.put(maps_pending)
                textures.put(stats_pending)
                maps_pending, stats_pending = {}, {}
            done += len(batch)
            progress.update("encoding photos", done, len(keys))
    maps_cache.put(maps_pending)
    textures.put(stats_pending)
    maps_cache.record(len(keys), time.perf_counter() - started)
    return len(keys)


class RuntimeTops:
    """The pretrained tops over cached trunk outputs on the runtime, as
    ``multimodal.features.frozen_pooled``'s torch path computes them."""

    def __init__(self, directory: Path, threads: int) -> None:
        self._text = runtime_session(directory / TEXT_TOP_GRAPH, threads)
        self._image = runtime_session(directory / IMAGE_TOP_GRAPH, threads)

    def texts(self, hidden: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """``[n, text_dim]`` pooled vectors of padded token states."""
        feeds = {"hidden": hidden.astype(np.float32), "attention_mask": attention_mask}
        return self._text.run(None, feeds)[0]

    def photos(self, maps: np.ndarray) -> np.ndarray:
        """``[n, 2, image_dim]``: each photo's and its mirror image's."""
        return self._image.run(None, {"maps": np.ascontiguousarray(maps, np.float32)})[0]


def tops_on_runtime(model, root: Path, cfg) -> RuntimeTops | None:
    """``model``'s pretrained tops on the runtime; ``cfg`` as ``encode_on_runtime``'s.
    None (torch runs them) when the runtime fails and the engine is ``auto``."""
    try:
        return RuntimeTops(ensure_graphs(model, root), cfg.threads)
    except Exception as exc:
        torch_instead(exc, cfg.engine, "pooling")
        return None


def encode_on_runtime(
    model, listings: Sequence, catalogue, root: Path, cfg, progress: Progress
) -> dict[str, int]:
    """Encode, on the runtime, every text and photo of ``listings`` that training's
    cache lacks, so ``multimodal.features.listing_features`` finds them all cached.
    ``cfg`` (a ``TrainConfig``) gives the threads and the engine: ``auto`` leaves the
    work to torch, with one log line, when the runtime fails; ``onnx`` raises.
    Returns how many texts and photos it encoded."""
    texts = [listing.text for listing in listings]
    paths = [catalogue.image_path(i) for listing in listings for i in listing.image_ids]
    encoded = {"texts": 0, "photos": 0}
    try:
        encoded["texts"] = encode_texts(model, texts, root, cfg.threads, progress)[1]
        encoded["photos"] = encode_photos(model, paths, root, cfg.threads, progress)
    except Exception as exc:
        torch_instead(exc, cfg.engine, "encoding")
    return encoded
