"""The reindex on Ray Data: the workers read the store and write embedding shards.

``ray.data.read_sql`` reads the live listings from the store through the
run's connection factory, split into read blocks of about 100,000 listings by
``MOD(ABS(fid), blocks)`` (both SQLite and PostgreSQL have ``MOD`` and
``ABS``). A pool of encoder actors, each loading the model once, takes them
``shard_rows`` at a time: it looks up their photos in the store, takes the vectors the
embedding cache already holds (not with ``full``), embeds the rest, and writes
the block as one ``.npz`` shard into the new version's staging folder. The
driver gets back only the shard paths, and streams each shard into the index
as it arrives, deleting it once read: it never holds the listings themselves.

With ``ray_address=None`` a local Ray starts on ``ray_num_cpus`` cores; given
a cluster address (``ray://head:10001`` or ``auto``) the same code fans out
over the cluster, provided every node has this package installed
(``pip install .[distributed]``) and sees the store, the model folder, the
photos, the embedding cache and the index folder at the same paths (a shared
filesystem; a PostgreSQL store needs only its connection factory instead).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from tqdm import tqdm

from indexing.config import ReindexConfig
from indexing.embedding_cache import EmbeddingCache
from indexing.reindex.embedded import Embedded, concatenate, from_encoded, split_cached
from indexing.reindex.mapper import Mapper, ModelIdentity, load_photos
from indexing.reindex.ray_session import ray_session
from indexing.reindex.reader import LISTINGS_SQL, Connect, count_live, with_photos

READ_BLOCK_ROWS = 100_000  # listings per read task


class EncoderActor:
    """A Ray actor holding one loaded model; turns a block of listing rows into a shard."""

    def __init__(
        self,
        model_dir: str,
        torch_threads: int,
        precision: str,
        device: str,
        engine: str,
        connect: Connect,
        image_dir: str,
        cache_path: str | None,
        fingerprint: str,
        dim: int,
        shard_dir: str,
        batch_size: int,
    ) -> None:
        self.mapper = Mapper.load(Path(model_dir), torch_threads, precision, device, engine)
        self.connect = connect
        self.image_dir = Path(image_dir)
        self.cache_path = None if cache_path is None else Path(cache_path)
        self.fingerprint = fingerprint
        self.dim = dim
        self.shard_dir = Path(shard_dir)
        self.batch_size = batch_size

    def __call__(self, block: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows = list(
            zip(
                block["fid"].tolist(),
                block["id"].tolist(),
                block["title"].tolist(),
                block["description"].tolist(),
                block["content_hash"].tolist(),
                strict=True,
            )
        )
        connection = self.connect()
        try:
            listings = with_photos(connection.cursor(), rows)
        finally:
            connection.close()
        items = [row.item(self.image_dir) for row in listings]
        if self.cache_path is None:  # ``full``: everything is embedded again
            cached, todo = split_cached(None, items, self.dim)
        else:  # opened per block: Ray may call an actor from another thread than __init__'s
            cache = EmbeddingCache(self.cache_path, self.fingerprint, self.dim)
            try:
                cached, todo = split_cached(cache, items, self.dim)
            finally:
                cache.close()
        todo.sort(key=lambda item: len(item.text))  # batches of similar length pad less
        parts = [cached]
        for start in range(0, len(todo), self.batch_size):
            batch = todo[start : start + self.batch_size]
            parts.append(from_encoded(batch, self.mapper(batch, load_photos(batch))))
        shard = concatenate(parts, self.dim)
        path = self.shard_dir / f"{uuid.uuid4().hex}.npz"
        shard.save(path)
        return {"shard": np.array([str(path)]), "listings": np.array([len(shard)])}


def run_ray(
    connect: Connect,
    image_dir: Path,
    cache_path: Path,
    config: ReindexConfig,
    model_dir: Path,
    model: ModelIdentity,
    shard_dir: Path,
) -> Iterator[Embedded]:
    """Every live listing's vectors, one shard at a time, as the actors finish them."""
    listings, _ = count_live(connect)
    if not listings:
        return
    shard_dir.mkdir(parents=True, exist_ok=True)
    with ray_session(config) as ray:
        # Each read task scans the table once (keeping its share of the rows), so reads
        # are few and large; the actors still take them ``shard_rows`` at a time.
        blocks = max(config.ray_actors, math.ceil(listings / READ_BLOCK_ROWS))
        dataset = ray.data.read_sql(
            LISTINGS_SQL,
            connect,
            shard_keys=["fid"],
            shard_hash_fn="ABS",  # fids are integers already: no hashing needed to spread them
            override_num_blocks=blocks,
        ).map_batches(
            EncoderActor,
            fn_constructor_kwargs={
                "model_dir": str(model_dir.resolve()),
                "torch_threads": config.torch_threads,
                "precision": config.precision,
                # Ray hides GPUs from an actor that asked for none: "auto" resolves per actor.
                "device": config.device,
                "engine": config.engine,
                "connect": connect,
                "image_dir": str(image_dir.resolve()),
                "cache_path": None if config.full else str(cache_path.resolve()),
                "fingerprint": model.fingerprint,
                "dim": model.dim,
                "shard_dir": str(shard_dir.resolve()),
                "batch_size": config.batch_size,
            },
            batch_size=config.shard_rows,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=config.ray_actors),
            num_cpus=config.ray_cpus_per_actor,
            num_gpus=config.ray_gpus_per_actor,
        )
        with tqdm(
            total=listings, desc="embedding (ray)", unit="listing", disable=not config.progress
        ) as bar:
            for done in dataset.iter_batches(batch_size=None, batch_format="numpy"):
                for path in done["shard"].tolist():
                    shard = Embedded.load(Path(path))
                    Path(path).unlink()
                    bar.update(len(shard))
                    yield shard
