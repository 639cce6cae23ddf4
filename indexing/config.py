"""Typed settings for the index and the reindexing pipeline, passed down explicitly."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from multimodal.device import Device
from multimodal.precision import Precision
from multimodal.runtime.engine import Engine

ApproximateKind = Literal["hnsw", "ivf"]
ExecutorKind = Literal["local", "ray"]


@dataclass(frozen=True)
class IndexConfig:
    """How the vector index is built.

    Exact inner-product search is both the most accurate and, at catalogue
    sizes up to a few hundred thousand, fast enough; past ``exact_max_size``
    an approximate index keeps query latency flat.
    """

    exact_max_size: int = 200_000
    approximate: ApproximateKind = "hnsw"
    hnsw_m: int = 32
    hnsw_ef_construction: int = 80
    # 384: recall@10 0.97 at 1M vectors for 1.6 ms a search (96 gave 0.88; search_bench)
    hnsw_ef_search: int = 384
    ivf_nlist: int | None = None  # None: about 4 * sqrt(n) lists
    ivf_nprobe: int = 32
    # A filter matching at most this many listings is answered by exact search
    # over just those vectors: an approximate graph or inverted list would miss
    # many of them, and scoring a few thousand vectors directly costs little.
    exact_filter_max: int = 50_000


@dataclass(frozen=True)
class ReindexConfig:
    """How the batch reindex runs; the executor is chosen here and nowhere else."""

    full: bool = False
    executor: ExecutorKind = "local"
    batch_size: int = 32
    ray_address: str | None = None  # None: start a local Ray with ``ray_num_cpus``
    ray_num_cpus: int = 2
    ray_actors: int = 1
    ray_cpus_per_actor: float = 1.0
    ray_gpus_per_actor: float = 0.0  # Ray's ``num_gpus`` for each encoder actor
    # Listings per Ray Data block: one read task, one actor call, one embedding shard.
    shard_rows: int = 4_096
    torch_threads: int = 2
    # Encoder number format (``multimodal.precision``): bf16 where the CPU has it.
    precision: Precision = "auto"
    # Where the local executor's encoders run (``multimodal.device``): auto is CUDA when
    # torch sees a GPU.
    device: Device = "auto"
    # What runs the encoders (``multimodal.runtime``): auto = the ONNX runtime.
    engine: Engine = "auto"
    keep_versions: int = 2
    # The training feature cache (``Workspace.features_dir``): when at least
    # ``features_min_items`` listings need embedding, the local executor reuses
    # the frozen layers' cached outputs instead of running them again. Small
    # runs skip it: loading the cache costs more than embedding a few listings.
    features_dir: Path | None = None
    features_min_items: int = 256
    # The photo-level instance channel (``indexing.instance_index``): its whitening
    # is fitted on pairs of photos of the split's training listings, describing
    # photos through the training feature cache at ``instance_features_dir``.
    # Without either (or without such pairs) a version has no instance channel.
    split_file: Path | None = None
    instance_features_dir: Path | None = None
    progress: bool = True
    index: IndexConfig = IndexConfig()
