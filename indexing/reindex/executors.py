"""Where the mapping runs: in this process, or on Ray. The only module that knows which.

Both executors take the same work items and yield the same ``Encoded``
batches, in any order; everything before (reading) and after (caching,
writing) is shared. ``local`` decodes the next batch's photos in a background
thread while the current batch is in the encoders. ``ray`` runs the mapper as
Ray Data ``map_batches`` over a pool of encoder actors, each loading the model
once: with ``ray_address=None`` it starts a local Ray on ``ray_num_cpus``
cores; given a cluster address (``ray://head:10001`` or ``auto``) the same
code fans out over the cluster, provided every node has this package
installed (``pip install .[distributed]``) and sees the model folder and the
photos at the same paths (a shared filesystem).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

import numpy as np
from tqdm import tqdm

from indexing.config import ReindexConfig
from indexing.reindex.mapper import Encoded, Mapper, load_photos
from indexing.reindex.reader import Item


def run(
    items: Sequence[Item], config: ReindexConfig, model_dir: Path, mapper: Mapper | None
) -> Iterator[Encoded]:
    """Embed ``items`` with the configured executor.

    ``mapper`` is an already loaded model for the local executor (loaded from
    ``model_dir`` when None); Ray actors always load their own from ``model_dir``.
    """
    if not items:
        return iter(())
    if config.executor == "ray":
        return run_ray(items, config, model_dir.resolve())
    if config.executor == "local":
        mapper = mapper or Mapper.load(
            model_dir, config.torch_threads, config.precision, config.engine
        )
        return run_local(items, config, mapper)
    raise ValueError(f"unknown executor {config.executor!r}")


def _batches(items: Sequence[Item], size: int) -> list[Sequence[Item]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def run_local(items: Sequence[Item], config: ReindexConfig, mapper: Mapper) -> Iterator[Encoded]:
    if config.features_dir is not None and len(items) >= config.features_min_items:
        encoded = mapper.from_features(items, config.features_dir)
        if encoded is not None:
            yield encoded
            return
    batches = _batches(items, config.batch_size)
    with (
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="photo-reader") as pool,
        tqdm(
            total=len(items), desc="embedding", unit="listing", disable=not config.progress
        ) as bar,
    ):
        pending = pool.submit(load_photos, batches[0])
        for position, batch in enumerate(batches):
            photos = pending.result()
            if position + 1 < len(batches):
                pending = pool.submit(load_photos, batches[position + 1])
            yield mapper(batch, photos)
            bar.update(len(batch))


class EncoderActor:
    """A Ray actor holding one loaded model; called with a numpy batch of item rows."""

    def __init__(self, model_dir: str, torch_threads: int, precision: str, engine: str) -> None:
        self.mapper = Mapper.load(Path(model_dir), torch_threads, precision, engine)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        items = [_item_from_row(row) for row in batch["item"]]
        encoded = self.mapper(items, load_photos(items))
        counts = [len(item.image_fids) for item in items]
        splits = np.cumsum(counts)[:-1]
        return {
            "fid": encoded.fids,
            "vector": encoded.vectors,
            # A listing has any number of photos: ship them as bytes per row.
            # (object arrays: numpy's fixed-width bytes would drop trailing zero bytes)
            "image_fids": np.array(
                [a.tobytes() for a in np.split(encoded.image_fids, splits)], dtype=object
            ),
            "image_vectors": np.array(
                [a.tobytes() for a in np.split(encoded.image_vectors, splits)], dtype=object
            ),
        }


def _item_from_row(row: str) -> Item:
    fields = json.loads(row)
    return Item(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})


def _encoded_from_batch(batch: dict[str, np.ndarray], dim: int) -> Encoded:
    return Encoded(
        fids=np.asarray(batch["fid"], dtype=np.int64),
        vectors=np.asarray(batch["vector"], dtype=np.float32).reshape(-1, dim),
        image_fids=np.concatenate(
            [np.frombuffer(b, np.int64) for b in batch["image_fids"]] + [np.zeros(0, np.int64)]
        ),
        image_vectors=np.concatenate(
            [np.frombuffer(b, np.float32).reshape(-1, dim) for b in batch["image_vectors"]]
            + [np.zeros((0, dim), np.float32)]
        ),
    )


def run_ray(items: Sequence[Item], config: ReindexConfig, model_dir: Path) -> Iterator[Encoded]:
    import ray  # optional extra: only this executor needs it

    started = not ray.is_initialized()
    if started:
        ray.init(
            address=config.ray_address,
            num_cpus=None if config.ray_address else config.ray_num_cpus,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )
    try:
        for name in ("ray", "ray.data"):  # the run ends with one summary line, not Ray's log
            logging.getLogger(name).setLevel(logging.WARNING)
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        rows = [{"item": json.dumps(asdict(item))} for item in items]
        dataset = ray.data.from_items(rows).map_batches(
            EncoderActor,
            fn_constructor_kwargs={
                "model_dir": str(model_dir),
                "torch_threads": config.torch_threads,
                "precision": config.precision,
                "engine": config.engine,
            },
            batch_size=config.batch_size,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=config.ray_actors),
            num_cpus=config.ray_cpus_per_actor,
        )
        dim = None
        with tqdm(
            total=len(items), desc="embedding (ray)", unit="listing", disable=not config.progress
        ) as bar:
            for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
                dim = dim or np.asarray(batch["vector"]).shape[-1]
                encoded = _encoded_from_batch(batch, dim)
                bar.update(len(encoded.fids))
                yield encoded
    finally:
        if started:
            ray.shutdown()
