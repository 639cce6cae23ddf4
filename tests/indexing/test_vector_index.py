from pathlib import Path

import numpy as np
import pytest

from indexing.config import IndexConfig
from indexing.vector_index import VectorIndex, choose_kind

DIM = 32


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def clustered(n: int, seed: int = 0, clusters: int = 50) -> np.ndarray:
    """Embedding-like vectors: normalised points around a few dozen centres."""
    rng = np.random.default_rng(seed)
    centres = unit(rng.normal(size=(clusters, DIM)))
    return unit(centres[rng.integers(clusters, size=n)] + 0.12 * rng.normal(size=(n, DIM)))


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    vectors = clustered(3000)
    ids = np.arange(1000, 1000 + len(vectors), dtype=np.int64)
    queries = unit(vectors[:100] + 0.2 * np.random.default_rng(1).normal(size=(100, DIM)))
    return ids, vectors, queries


def brute_force(ids, vectors, queries, k, allowed=None):
    mask = np.ones(len(ids), bool) if allowed is None else np.isin(ids, allowed)
    scores = queries @ vectors[mask].T
    return ids[mask][np.argsort(-scores, axis=1)[:, :k]]


APPROXIMATE = {
    "hnsw": IndexConfig(exact_max_size=0, approximate="hnsw"),
    "ivf": IndexConfig(exact_max_size=0, approximate="ivf", ivf_nprobe=16),
}


def test_kind_follows_size() -> None:
    config = IndexConfig(exact_max_size=100, approximate="ivf")
    assert choose_kind(100, config) == "exact"
    assert choose_kind(101, config) == "ivf"


def test_exact_search_matches_brute_force(data) -> None:
    ids, vectors, queries = data
    index = VectorIndex.build(ids, vectors, IndexConfig())
    assert index.kind == "exact" and len(index) == len(ids)
    scores, found = index.search(queries, 10)
    np.testing.assert_array_equal(found, brute_force(ids, vectors, queries, 10))
    assert np.all(np.diff(scores, axis=1) <= 1e-6)


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_approximate_recall_against_exact(data, kind: str) -> None:
    ids, vectors, queries = data
    index = VectorIndex.build(ids, vectors, APPROXIMATE[kind])
    assert index.kind == kind
    _, found = index.search(queries, 10)
    truth = brute_force(ids, vectors, queries, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth, strict=True)])
    assert recall >= 0.9, f"{kind} recall@10 {recall:.3f}"


@pytest.mark.parametrize("kind", ["exact", "hnsw", "ivf"])
def test_upsert_and_delete_are_visible_without_rebuild(data, kind: str) -> None:
    ids, vectors, _ = data
    config = APPROXIMATE.get(kind, IndexConfig())
    index = VectorIndex.build(ids, vectors, config)
    target = ids[0]
    moved = unit(-vectors[0])
    index.upsert([target], moved[None])
    assert len(index) == len(ids)
    np.testing.assert_allclose(index.reconstruct(target), moved, atol=1e-6)
    _, found = index.search(moved, 3)
    assert found[0, 0] == target
    assert list(found[0]).count(target) == 1  # the old vector is gone
    new_id = 5
    index.upsert([new_id], vectors[1][None])
    _, found = index.search(vectors[1], 2)
    assert set(found[0]) == {new_id, ids[1]}
    index.delete([target, new_id, 123456789])
    assert target not in index and new_id not in index
    assert len(index) == len(ids) - 1
    _, found = index.search(moved, 5)
    assert target not in found[0]
    with pytest.raises(KeyError):
        index.reconstruct(target)
    assert target not in index.ids() and len(index.ids()) == len(index)


@pytest.mark.parametrize("kind", ["exact", "hnsw", "ivf"])
def test_filtered_search_fills_k_when_k_match(data, kind: str) -> None:
    ids, vectors, queries = data
    config = APPROXIMATE.get(kind, IndexConfig())
    index = VectorIndex.build(ids, vectors, config)
    allowed = ids[::250]  # 12 ids scattered over every cluster
    _, found = index.search(queries[:5], 10, allowed)
    np.testing.assert_array_equal(found, brute_force(ids, vectors, queries[:5], 10, allowed))
    _, found = index.search(queries[0], 20, allowed)
    assert list(found[0, 12:]) == [-1] * 8  # fewer allowed than k: padded, never invented
    index.delete([allowed[0]])
    _, found = index.search(queries[0], 12, allowed)
    assert allowed[0] not in found[0]


def test_broad_filter_on_approximate_index(data) -> None:
    ids, vectors, queries = data
    config = IndexConfig(exact_max_size=0, approximate="hnsw", exact_filter_max=10)
    index = VectorIndex.build(ids, vectors, config)
    allowed = ids[ids % 2 == 0]
    _, found = index.search(queries[:10], 10, allowed)
    assert np.isin(found, allowed).all()


def test_ties_come_back_in_id_order() -> None:
    vectors = np.tile(unit(np.ones((1, DIM))), (5, 1))
    index = VectorIndex.build([50, 10, 40, 20, 30], vectors, IndexConfig())
    _, found = index.search(vectors[0], 5)
    assert list(found[0]) == [10, 20, 30, 40, 50]


@pytest.mark.parametrize("kind", ["exact", "hnsw", "ivf"])
def test_save_and_load_keep_live_changes(data, kind: str, tmp_path: Path) -> None:
    ids, vectors, queries = data
    config = APPROXIMATE.get(kind, IndexConfig())
    index = VectorIndex.build(ids, vectors, config)
    index.upsert([ids[0]], unit(-vectors[0])[None])
    index.delete([ids[1]])
    index.save(tmp_path)
    loaded = VectorIndex.load(tmp_path, kind, config)
    assert len(loaded) == len(index)
    np.testing.assert_array_equal(loaded.search(queries, 5)[1], index.search(queries, 5)[1])


def test_empty_index_and_wrong_dimension() -> None:
    index = VectorIndex.build([], np.zeros((0, DIM)), IndexConfig(), dim=DIM)
    assert len(index) == 0
    _, found = index.search(np.ones(DIM, np.float32), 3)
    assert list(found[0]) == [-1, -1, -1]
    with pytest.raises(ValueError, match="dimension"):
        index.search(np.ones(DIM + 1, np.float32), 3)
    with pytest.raises(ValueError, match="duplicate"):
        VectorIndex.build([1, 1], np.ones((2, DIM)), IndexConfig())
