from pathlib import Path

import numpy as np
import pytest

from indexing.config import IndexConfig
from indexing.index_store import (
    Contents,
    IndexDirectory,
    IndexManifest,
    IndexMismatch,
    IndexNotFound,
    save_version,
)
from indexing.lexical import LexicalIndex
from indexing.vector_index import VectorIndex


def write(index_dir: IndexDirectory, fingerprint: str = "model-a", n: int = 3) -> int:
    """Stage, commit and return one small version (not yet current)."""
    staging, version = index_dir.staging_dir()
    vectors = np.eye(4, dtype=np.float32)[:n]
    ids = np.arange(1, n + 1)
    manifest = IndexManifest(
        version=version,
        kind="exact",
        photo_kind="exact",
        dim=4,
        count=n,
        photo_count=0,
        model_fingerprint=fingerprint,
        backbones={"text": "t", "image": "i"},
        built_at="now",
        build_seconds=0.0,
        data={},
        changes={},
    )
    save_version(
        staging,
        manifest,
        VectorIndex.build(ids, vectors, IndexConfig()),
        VectorIndex.build([], np.zeros((0, 4)), IndexConfig(), dim=4),
        LexicalIndex.build((int(i), f"doc {i}", "") for i in ids),
        Contents(ids, np.array([b"h"] * n, dtype="S64"), np.zeros(0, np.int64)),
    )
    index_dir.commit(staging, version)
    return version


def test_no_index_yet(tmp_path: Path) -> None:
    index_dir = IndexDirectory(tmp_path / "index")
    assert index_dir.current() is None
    with pytest.raises(IndexNotFound, match="marketplace reindex"):
        index_dir.load_current("model-a")


def test_swap_and_load(tmp_path: Path) -> None:
    index_dir = IndexDirectory(tmp_path / "index")
    first = write(index_dir, n=2)
    index_dir.swap_current(first)
    second = write(index_dir, n=3)
    assert index_dir.load_current("model-a").manifest.count == 2  # written, not yet swapped
    index_dir.swap_current(second)
    loaded = index_dir.load_current("model-a")
    assert (loaded.manifest.version, len(loaded.listings), len(loaded.lexical)) == (2, 3, 3)
    assert index_dir.versions() == [1, 2]


def test_model_mismatch_is_refused_naming_both(tmp_path: Path) -> None:
    index_dir = IndexDirectory(tmp_path / "index")
    index_dir.swap_current(write(index_dir, fingerprint="model-a"))
    with pytest.raises(IndexMismatch, match=r"model-a.*model-b"):
        index_dir.load_current("model-b")


def test_crash_before_commit_leaves_the_old_version_and_is_swept(tmp_path: Path) -> None:
    index_dir = IndexDirectory(tmp_path / "index")
    index_dir.swap_current(write(index_dir))
    staging, _ = index_dir.staging_dir()  # a build that died half way
    (staging / "half-written").write_text("x")
    assert index_dir.load_current("model-a").manifest.version == 1
    with index_dir.build_lock():
        assert index_dir.clean_stale() == [staging]
    assert not staging.exists()
    assert write(index_dir) == 2


def test_build_lock_is_exclusive(tmp_path: Path) -> None:
    index_dir = IndexDirectory(tmp_path / "index")
    with (
        index_dir.build_lock(),
        pytest.raises(RuntimeError, match="another reindex"),
        index_dir.build_lock(),
    ):
        pass


def test_prune_keeps_newest_and_current(tmp_path: Path) -> None:
    index_dir = IndexDirectory(tmp_path / "index")
    for _ in range(4):
        version = write(index_dir)
    index_dir.swap_current(1)  # e.g. rolled back by hand
    assert index_dir.prune(keep=2) == [2]
    assert index_dir.versions() == [1, 3, 4]
    assert version == 4
