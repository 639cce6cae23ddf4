import hashlib
from pathlib import Path

import numpy as np
import pytest

from indexing.config import IndexConfig
from indexing.index_store import (
    Contents,
    IndexDamaged,
    IndexDirectory,
    IndexManifest,
    IndexMismatch,
    IndexNotFound,
    IndexVersion,
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
    parts = IndexVersion(
        staging,
        manifest,
        listings=VectorIndex.build(ids, vectors, IndexConfig()),
        photos=VectorIndex.build([], np.zeros((0, 4)), IndexConfig(), dim=4),
        lexical=LexicalIndex.build((int(i), f"doc {i}", "") for i in ids),
        texts=VectorIndex.build(ids, vectors, IndexConfig()),
    )
    contents = Contents(ids, np.array([b"h"] * n, dtype="S64"), np.zeros(0, np.int64))
    save_version(staging, manifest, parts, contents)
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


def test_every_part_is_listed_with_its_size_and_checksum(tmp_path: Path) -> None:
    index_dir = IndexDirectory(tmp_path / "index")
    version = index_dir.version_dir(write(index_dir))
    manifest = IndexManifest.read(version)
    files = {
        p.relative_to(version).as_posix()
        for p in version.rglob("*")
        if p.is_file() and p.name != "manifest.json"
    }
    assert set(manifest.parts) == files
    assert {"listings/vectors.faiss", "texts/vectors.faiss", "lexical.sqlite"} <= files
    for name, part in manifest.parts.items():
        data = (version / name).read_bytes()
        assert part == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    # no photos: the version says it serves no photo channels
    assert manifest.channels == ["listings", "lexical", "texts"]
    loaded = IndexVersion.load(version, "model-a")
    assert len(loaded.photos) == 0 and len(loaded.texts) == 3 and loaded.instances is None


@pytest.mark.parametrize("damage", ["missing", "corrupt"])
def test_a_damaged_part_is_refused_naming_it(tmp_path: Path, damage: str) -> None:
    index_dir = IndexDirectory(tmp_path / "index")
    version = index_dir.version_dir(write(index_dir))
    part = version / "texts" / "vectors.faiss"
    if damage == "missing":
        part.unlink()
    else:
        data = bytearray(part.read_bytes())
        data[-1] ^= 0xFF  # same size, one bit pattern changed
        part.write_bytes(bytes(data))
    expected = "is missing" if damage == "missing" else "fails its checksum"
    with pytest.raises(IndexDamaged, match=f"part texts/vectors.faiss {expected}"):
        IndexVersion.load(version, "model-a")
