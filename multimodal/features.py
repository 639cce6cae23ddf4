"""On-disk cache of frozen-backbone outputs, keyed by content hash.

Running the frozen encoders is by far the slowest part of training on two CPU
cores, so each text and photo goes through them once: the result is stored
under ``Workspace.features_dir/<namespace>/`` where the namespace names the
backbone fingerprint and the layer the output comes from, and the key is the
SHA-1 of the text or of the photo file's bytes. A changed photo or a different
backbone simply misses the cache; nothing is ever stale.

The passes run wherever the encoder's weights are: on a GPU in its half type
under autocast (``frozen_autocast``), on the CPU in fp32 as always. Outputs
come back to the host as float16 arrays either way.

Items are written in append-only chunk files (``chunk-<time>-<pid>.npz``) as
the work proceeds, so an interrupted extraction resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from tqdm import tqdm

from multimodal.config import InstanceConfig
from multimodal.device import device_of, to_device
from multimodal.precision import autocast, gpu_half
from multimodal.texture import texture_statistics

CHUNK_ITEMS = 512
STATS_FILE = "stats.json"
# Texture statistics cached before their channel count was a setting were named
# without it; that count keeps the bare name, so those caches stay valid.
UNNAMED_TEXTURE_CHANNELS = 128


def frozen_autocast(device) -> AbstractContextManager:
    """Mixed precision for the frozen passes on a GPU. On the CPU nothing changes: no
    context of its own, so a caller's autocast (``cached_vectors``) still applies."""
    return autocast(gpu_half(), "cuda") if device.type == "cuda" else nullcontext()


def text_key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def file_key(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


class FeatureCache:
    """Arrays of any shape (one per key) in chunk files under ``root/namespace``."""

    def __init__(self, root: Path, namespace: str) -> None:
        self.dir = root / re.sub(r"[^A-Za-z0-9_.-]+", "-", namespace)
        self._items: dict[str, np.ndarray] | None = None

    def _load(self) -> dict[str, np.ndarray]:
        if self._items is None:
            self._items = {}
            for chunk in sorted(self.dir.glob("chunk-*.npz")):
                with np.load(chunk) as data:
                    flat, shapes, keys = data["flat"], data["shapes"], data["keys"]
                sizes = np.prod(shapes, axis=1)
                for key, piece, shape in zip(
                    keys, np.split(flat, np.cumsum(sizes)[:-1]), shapes, strict=True
                ):
                    self._items[str(key)] = piece.reshape(shape)
        return self._items

    def __contains__(self, key: str) -> bool:
        return key in self._load()

    def __len__(self) -> int:
        return len(self._load())

    def get(self, keys: Iterable[str]) -> list[np.ndarray]:
        items = self._load()
        return [items[key] for key in keys]

    def record(self, items: int, seconds: float) -> None:
        """Add to the running total of how long filling this cache took (for reports)."""
        stats = self.stats()
        stats = {"items": stats["items"] + items, "seconds": stats["seconds"] + seconds}
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / STATS_FILE).write_text(json.dumps(stats))

    def stats(self) -> dict[str, float]:
        try:
            return json.loads((self.dir / STATS_FILE).read_text())
        except (OSError, ValueError):
            return {"items": 0, "seconds": 0.0}

    def put(self, items: dict[str, np.ndarray]) -> None:
        """Write one chunk; the in-memory view sees it at once."""
        if not items:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        # Unique names, so two processes may fill one cache at once without clashing.
        name = f"chunk-{time.time_ns():020d}-{os.getpid()}"
        keys = list(items)
        arrays = [np.asarray(items[k]) for k in keys]
        ndim = {a.ndim for a in arrays}
        if len(ndim) != 1:
            raise ValueError("all items of one chunk must have the same number of dimensions")
        tmp = self.dir / f"tmp-{name}.npz"  # not matched by the chunk-*.npz glob
        np.savez(
            tmp,
            keys=np.array(keys),
            shapes=np.array([a.shape for a in arrays], dtype=np.int64).reshape(len(arrays), -1),
            flat=np.concatenate([a.reshape(-1) for a in arrays]),
        )
        tmp.replace(self.dir / f"{name}.npz")
        self._load().update(zip(keys, arrays, strict=True))


def cached_compute(
    cache: FeatureCache,
    keys: Sequence[str],
    inputs: Sequence[object],
    compute: Callable[[list[object]], list[np.ndarray]],
    batch_size: int,
    desc: str,
) -> tuple[list[np.ndarray], int]:
    """Outputs for ``inputs`` (one per key) and how many had to be computed.

    Only the items missing from the cache are computed, in batches (``compute``
    maps a batch of inputs to one array per input), and flushed to disk every
    ``CHUNK_ITEMS`` items.
    """
    todo: dict[str, object] = {}
    for key, item in zip(keys, inputs, strict=True):
        if key not in cache and key not in todo:
            todo[key] = item
    if todo:
        started = time.perf_counter()
        pending: dict[str, np.ndarray] = {}
        todo_keys = list(todo)
        with tqdm(total=len(todo_keys), desc=desc, unit="item") as bar:
            for start in range(0, len(todo_keys), batch_size):
                batch_keys = todo_keys[start : start + batch_size]
                outputs = compute([todo[k] for k in batch_keys])
                pending.update(zip(batch_keys, outputs, strict=True))
                bar.update(len(batch_keys))
                if len(pending) >= CHUNK_ITEMS:
                    cache.put(pending)
                    pending = {}
        cache.put(pending)
        cache.record(len(todo), time.perf_counter() - started)
    return cache.get(keys), len(todo)


def text_trunk_namespace(encoder) -> str:
    return f"text-{encoder.fingerprint}-trunk{encoder.split}"


def image_trunk_namespace(encoder) -> str:
    return f"image-{encoder.trunk_fingerprint}"


def text_trunk_states(encoder, texts: Sequence[str], root: Path) -> tuple[list[np.ndarray], int]:
    """Token states (float16, padding dropped) of ``encoder``'s frozen layers for each text,
    and how many texts were not cached yet.

    ``encoder`` is a ``multimodal.encoders.text.TextEncoder``; texts are batched
    by length so little time goes on padding.
    """
    import torch

    cache = FeatureCache(root, text_trunk_namespace(encoder))
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    sorted_texts = [texts[i] for i in order]

    device = device_of(encoder)

    def compute(batch: list[object]) -> list[np.ndarray]:
        enc = encoder.tokenize([str(t) for t in batch])
        lengths = enc["attention_mask"].sum(1).tolist()
        with torch.inference_mode(), frozen_autocast(device):
            hidden = encoder.trunk(**{k: to_device(v, device) for k, v in enc.items()})
        hidden = hidden.to(torch.float16).cpu()
        return [hidden[i, :n].numpy() for i, n in enumerate(lengths)]

    encoder.eval()
    states, computed = cached_compute(
        cache,
        [text_key(t) for t in sorted_texts],
        sorted_texts,
        compute,
        encoder.cfg.batch_size,
        "text features",
    )
    out: list[np.ndarray] = [np.empty(0)] * len(texts)
    for i, state in zip(order, states, strict=True):
        out[i] = state
    return out, computed


def image_texture_namespace(encoder, channels: int) -> str:
    name = f"image-{encoder.trunk_fingerprint}-texture"
    return name if channels == UNNAMED_TEXTURE_CHANNELS else f"{name}{channels}"


def _trunk_pass(encoder, paths: Sequence[object], preprocess: Callable, texture_channels: int):
    """One frozen-trunk pass over photo files: float16 trunk maps and texture statistics."""
    import torch
    from PIL import Image

    pixels = []
    for path in paths:
        with Image.open(path) as img:
            pixels.append(preprocess(img.convert("RGB")))
    device = device_of(encoder)
    with torch.inference_mode(), frozen_autocast(device):
        maps, mid = encoder.trunk.forward_with_mid(to_device(torch.stack(pixels), device))
    stats = texture_statistics(mid.float().cpu(), texture_channels)
    return maps.to(torch.float16).cpu().numpy(), stats.astype(np.float16)


def image_trunk_maps(
    encoder,
    paths: Sequence[Path],
    preprocess: Callable,
    root: Path,
    texture_channels: int = InstanceConfig().texture_channels,
) -> tuple[list[np.ndarray], int]:
    """Activation maps (float16) of ``encoder``'s frozen trunk for each photo file, and
    how many photos were not cached yet.

    ``encoder`` is a ``multimodal.encoders.image.ImageEncoder``; ``preprocess``
    turns a PIL image into the normalised tensor the backbone expects (the eval
    transform), so cached maps are exactly what inference computes. The same
    pass caches each photo's texture statistics (``image_texture_statistics``),
    which cost nothing more than a Gram matrix once the trunk has run (grouped down
    to ``texture_channels``, ``InstanceConfig.texture_channels``).
    """
    cache = FeatureCache(root, image_trunk_namespace(encoder))
    textures = FeatureCache(root, image_texture_namespace(encoder, texture_channels))
    keys = [file_key(p) for p in paths]
    key_of = dict(zip(paths, keys, strict=True))
    pending: dict[str, np.ndarray] = {}

    def compute(batch: list[object]) -> list[np.ndarray]:
        maps, stats = _trunk_pass(encoder, batch, preprocess, texture_channels)
        pending.update((key_of[path], row) for path, row in zip(batch, stats, strict=True))
        if len(pending) >= CHUNK_ITEMS:
            textures.put(dict(pending))
            pending.clear()
        return list(maps)

    encoder.eval()
    out = cached_compute(
        cache, keys, list(paths), compute, encoder.cfg.batch_size, "photo features"
    )
    textures.put(pending)
    return out


def image_texture_statistics(
    encoder,
    paths: Sequence[Path],
    preprocess: Callable,
    root: Path,
    texture_channels: int = InstanceConfig().texture_channels,
) -> tuple[list[np.ndarray], int]:
    """Texture statistics (float16, ``texture.texture_statistics``) of each photo file,
    and how many were not cached yet (photos whose trunk maps were cached before
    these statistics existed, or at another ``texture_channels``: one more trunk pass)."""

    def compute(batch: list[object]) -> list[np.ndarray]:
        return list(_trunk_pass(encoder, batch, preprocess, texture_channels)[1])

    encoder.eval()
    return cached_compute(
        FeatureCache(root, image_texture_namespace(encoder, texture_channels)),
        [file_key(p) for p in paths],
        list(paths),
        compute,
        encoder.cfg.batch_size,
        "photo textures",
    )


@dataclass
class ListingFeatures:
    """Cached trunk outputs for a list of listings, ready for training or evaluation."""

    ids: list[str]
    text_keys: list[str]
    text_states: list[np.ndarray]  # per listing: [tokens, hidden] float16
    photo_rows: list[np.ndarray]  # per listing: rows of ``maps`` holding its photos
    photo_keys: list[str]  # per row of ``maps``
    maps: np.ndarray  # [photos, C, H, W] float16
    computed: dict[str, int]  # items extracted now (0 and 0: everything was cached)


def listing_features(
    model, listings: Sequence, catalogue, root: Path, texts: Sequence[str] | None = None
) -> ListingFeatures:
    """Trunk outputs for ``listings`` (``multimodal.data.catalogue.Listing``) through
    ``model`` (a ``MultimodalModel``), from the cache where possible.

    ``texts`` overrides the listings' texts (evaluation with boilerplate stripped).
    """
    from multimodal.data.transforms import eval_transform

    texts = list(texts) if texts is not None else [listing.text for listing in listings]
    states, text_computed = text_trunk_states(model.text, texts, root)
    paths, rows = [], []
    for listing in listings:
        start = len(paths)
        paths.extend(catalogue.image_path(i) for i in listing.image_ids)
        rows.append(np.arange(start, len(paths)))
    preprocess = eval_transform(model.image.cfg.image_size, model.image.normalise)
    maps, image_computed = image_trunk_maps(model.image, paths, preprocess, root)
    shape = maps[0].shape if maps else (0, 1, 1)
    return ListingFeatures(
        ids=[listing.id for listing in listings],
        text_keys=[text_key(t) for t in texts],
        text_states=states,
        photo_rows=rows,
        photo_keys=[file_key(p) for p in paths],
        maps=np.stack(maps) if maps else np.zeros((0, *shape), np.float16),
        computed={"texts": text_computed, "photos": image_computed},
    )


def length_order(states: Sequence[np.ndarray]) -> list[int]:
    """Indices sorted by token count: batches of similar length waste little on padding."""
    return sorted(range(len(states)), key=lambda i: len(states[i]))


def pad_states(states: Sequence[np.ndarray], device=None):
    """Variable-length float16 token states → float32 ``[n, max_len, d]`` and a mask
    (on ``device`` when given: a torch device)."""
    import torch

    longest = max(len(s) for s in states)
    hidden = torch.zeros(len(states), longest, states[0].shape[1])
    mask = torch.zeros(len(states), longest, dtype=torch.long)
    for i, s in enumerate(states):
        hidden[i, : len(s)] = torch.from_numpy(s.astype(np.float32))
        mask[i, : len(s)] = 1
    if device is None:
        return hidden, mask
    return to_device(hidden, device), to_device(mask, device)


class PooledTops(Protocol):
    """The pretrained tops run elsewhere than in torch (``multimodal.runtime``)."""

    def texts(self, hidden: np.ndarray, attention_mask: np.ndarray) -> np.ndarray: ...

    def photos(self, maps: np.ndarray) -> np.ndarray: ...


def frozen_pooled(
    model,
    feats: ListingFeatures,
    root: Path,
    batch_size: int = 64,
    tops: PooledTops | None = None,
):
    """Stage-1 inputs: the pretrained tops applied once to the cached trunk outputs.

    Returns text features ``[listings, text_dim]`` and photo features
    ``[photos, 2, image_dim]`` (the photo and its mirror image), cached too, so a
    warm re-run skips even the top layers. ``tops`` runs the top layers in
    place of torch (the runtime's graphs).
    """
    import torch

    text_cache = FeatureCache(root, f"text-{model.text.fingerprint}-pooled{model.text.split}")
    image_cache = FeatureCache(root, f"image-{model.image.trunk_fingerprint}-pooled")
    model.eval()
    device = device_of(model.head)

    def text_compute(batch: list[object]) -> list[np.ndarray]:
        if tops is not None:
            hidden, mask = pad_states(batch)  # type: ignore[arg-type]
            return list(tops.texts(hidden.numpy(), mask.numpy()))
        hidden, mask = pad_states(batch, device)  # type: ignore[arg-type]
        with torch.inference_mode(), frozen_autocast(device):
            return list(model.text.top(hidden, mask).float().cpu().numpy())

    def image_compute(batch: list[object]) -> list[np.ndarray]:
        if tops is not None:
            return list(tops.photos(np.stack(batch).astype(np.float32)))  # type: ignore[arg-type]
        maps = torch.from_numpy(np.stack(batch).astype(np.float32))  # type: ignore[arg-type]
        maps = to_device(maps, device)
        with torch.inference_mode(), frozen_autocast(device):
            plain = model.image.top(maps)
            mirrored = model.image.top(torch.flip(maps, dims=[3]))
        return list(torch.stack([plain, mirrored], dim=1).float().cpu().numpy())

    order = length_order(feats.text_states)
    text_sorted, _ = cached_compute(
        text_cache,
        [feats.text_keys[i] for i in order],
        [feats.text_states[i] for i in order],
        text_compute,
        batch_size,
        "text tops",
    )
    text: list[np.ndarray] = [np.empty(0)] * len(order)
    for i, row in zip(order, text_sorted, strict=True):
        text[i] = row
    photos, _ = cached_compute(
        image_cache, feats.photo_keys, list(feats.maps), image_compute, batch_size, "photo tops"
    )
    text_t = torch.from_numpy(np.stack(text)).float()
    photo_t = (
        torch.from_numpy(np.stack(photos)).float() if photos else torch.zeros(0, 2, model.image.dim)
    )
    return text_t, photo_t
