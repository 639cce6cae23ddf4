"""The photo-level instance channel: built by the reindex, saved in its version, then loaded."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from indexing.config import IndexConfig
from indexing.instance_index import KEY_FILE, InstanceChannel, InstanceIndex


@pytest.fixture
def photos(tmp_path: Path) -> list[Path]:
    rng = np.random.default_rng(0)
    paths = []
    for i in range(6):
        path = tmp_path / "images" / f"{i}.jpg"
        path.parent.mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def test_saved_channel_loads_and_searches_the_same(
    embedder, photos: list[Path], tmp_path: Path
) -> None:
    pairs = [(photos[0], photos[1]), (photos[2], photos[3]), (photos[4], photos[5])]
    built = InstanceIndex.build(
        embedder.model.image, range(100, 106), photos, pairs, tmp_path / "features", IndexConfig()
    )
    built.save(tmp_path / "instances")
    channel = InstanceChannel(embedder.model.image, built)
    loaded = InstanceChannel(
        embedder.model.image, InstanceIndex.load(tmp_path / "instances", IndexConfig())
    )
    query = Image.open(photos[3])
    assert channel.search(query, 1)[0] == 103  # a photo finds itself
    assert list(loaded.search(query, 6)) == list(channel.search(query, 6))
    assert loaded.saved.key == built.key


def test_extending_keeps_the_projection_and_describes_only_new_photos(
    embedder, photos: list[Path], tmp_path: Path
) -> None:
    encoder, features = embedder.model.image, tmp_path / "features"
    pairs = [(photos[0], photos[1]), (photos[2], photos[3])]
    first = InstanceIndex.build(encoder, [1, 2, 3, 4], photos[:4], pairs, features, IndexConfig())
    grown = first.extended(encoder, [1, 3], [5, 6], photos[4:], features, IndexConfig())
    assert grown.key == first.key
    assert grown.index.ids().tolist() == [1, 3, 5, 6]
    np.testing.assert_allclose(grown.index.reconstruct(3), first.index.reconstruct(3))
    query = InstanceChannel(encoder, grown)
    assert query.search(Image.open(photos[5]), 1)[0] == 6


def test_build_describes_each_photo_once_with_the_same_result(
    embedder, photos: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import indexing.instance_index as instance_index
    from multimodal.instance_features import InstanceProjection, describe_files

    encoder, features = embedder.model.image, tmp_path / "features"
    pairs = [(photos[0], photos[1]), (photos[2], photos[3]), (photos[4], photos[5])]
    indexed = photos[:4]  # pair photos are mostly, not all, indexed ones
    described: list[Path] = []

    def counting(encoder, paths, root, threads):
        described.extend(paths)
        return describe_files(encoder, paths, root, threads=threads)

    monkeypatch.setattr(instance_index, "describe_files", counting)
    channel = InstanceIndex.build(
        encoder, [1, 2, 3, 4], indexed, pairs, features, IndexConfig(), threads=2
    )
    assert sorted(described) == sorted(photos)  # six distinct photos, each once
    # ...decoded two at a time for the histograms, the same as one at a time below

    first = describe_files(encoder, [a for a, _ in pairs], features)
    second = describe_files(encoder, [b for _, b in pairs], features)
    expected = InstanceProjection.fit(first, second)
    for name, array in expected.arrays().items():
        np.testing.assert_allclose(channel.projection.arrays()[name], array, atol=1e-5)
    vectors = expected(describe_files(encoder, indexed, features))
    for fid, vector in zip([1, 2, 3, 4], vectors, strict=True):
        np.testing.assert_allclose(channel.index.reconstruct(fid), vector, atol=1e-5)


def test_channel_saved_by_older_descriptors_is_not_reused(
    embedder, photos: list[Path], tmp_path: Path
) -> None:
    pairs = [(photos[0], photos[1]), (photos[2], photos[3])]
    where = tmp_path / "instances"
    InstanceIndex.build(
        embedder.model.image, [1, 2, 3], photos[:3], pairs, tmp_path / "features", IndexConfig()
    ).save(where)
    assert InstanceIndex.reusable(where)
    key = json.loads((where / KEY_FILE).read_text())
    del key["descriptor"]  # as a channel written before texture statistics existed
    (where / KEY_FILE).write_text(json.dumps(key))
    assert not InstanceIndex.reusable(where)  # the next reindex fits it afresh
    with pytest.raises(ValueError, match="reindex --full"):
        InstanceIndex.load(where, IndexConfig())


def test_trunk_pass_caches_the_texture_statistics_queries_compute(
    embedder, photos: list[Path], tmp_path: Path
) -> None:
    """Training's feature pass fills the texture cache too, so describing the
    catalogue later runs no trunk; the cached statistics are what a query computes."""
    from multimodal.data.transforms import eval_transform
    from multimodal.features import image_texture_statistics, image_trunk_maps
    from multimodal.instance_features import describe_images

    encoder, root = embedder.model.image, tmp_path / "features"
    preprocess = eval_transform(encoder.cfg.image_size, encoder.normalise)
    _, computed = image_trunk_maps(encoder, photos, preprocess, root)
    assert computed == len(photos)
    cached, computed = image_texture_statistics(encoder, photos, preprocess, root)
    assert computed == 0
    queried = describe_images(encoder, [Image.open(p) for p in photos]).texture
    np.testing.assert_allclose(np.stack(cached).astype(np.float32), queried, atol=2e-3)
