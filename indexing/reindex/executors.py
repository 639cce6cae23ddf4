"""Where the mapping runs: in this process, or on Ray. The only module that knows which.

Both executors yield the same ``Embedded`` batches (vectors plus their cache
keys), in any order; everything after (caching, assembling, writing) is
shared. ``local`` reads the store page by page in this process, takes what the
embedding cache holds, and embeds the rest, decoding the next batch's photos
in a background thread while the current batch is in the encoders. ``ray``
(``indexing.reindex.ray_executor``) has Ray Data read the store itself and
encoder actors write embedding shards that this process streams in.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tqdm import tqdm

from indexing.config import ReindexConfig
from indexing.embedding_cache import EmbeddingCache
from indexing.reindex.embedded import Embedded, from_encoded, split_cached
from indexing.reindex.mapper import Encoded, Mapper, ModelIdentity, load_photos
from indexing.reindex.reader import Connect, Item, iter_pages

PAGE = 2_000  # listings read from the store at a time by the local executor


def embed(
    connect: Connect,
    image_dir: Path,
    cache: EmbeddingCache,
    config: ReindexConfig,
    model_dir: Path,
    model: ModelIdentity,
    shard_dir: Path,
    mapper: Mapper | None,
) -> Iterator[Embedded]:
    """Every live listing of the store with its vectors, cached or computed.

    ``mapper`` is an already loaded model for the local executor (loaded from
    ``model_dir`` only when something needs embedding); Ray actors always load
    their own from ``model_dir`` and write their shards under ``shard_dir``.
    """
    if config.executor == "ray":
        from indexing.reindex.ray_executor import run_ray  # Ray is an optional extra

        return run_ray(connect, image_dir, cache.path, config, model_dir, model, shard_dir)
    if config.executor == "local":
        return embed_local(connect, image_dir, cache, config, model_dir, model.dim, mapper)
    raise ValueError(f"unknown executor {config.executor!r}")


def embed_local(
    connect: Connect,
    image_dir: Path,
    cache: EmbeddingCache,
    config: ReindexConfig,
    model_dir: Path,
    dim: int,
    mapper: Mapper | None,
) -> Iterator[Embedded]:
    """Cached vectors page by page, then the listings the cache lacks through the model.

    Those are held until the end (all of them with ``full``): ordered by text
    length they pad less, and the training feature cache serves them in one go.
    """
    todo: list[Item] = []
    for page in iter_pages(connect, PAGE):
        cached, missing = split_cached(
            None if config.full else cache, [row.item(image_dir) for row in page], dim
        )
        if len(cached):
            yield cached
        todo.extend(missing)
    if not todo:
        return
    todo.sort(key=lambda item: len(item.text))
    item_of = {item.fid: item for item in todo}
    mapper = mapper or Mapper.load(
        model_dir, config.torch_threads, config.precision, config.device, config.engine
    )
    for encoded in run_local(todo, config, mapper):
        yield from_encoded([item_of[f] for f in encoded.fids.tolist()], encoded)


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
