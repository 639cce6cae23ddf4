"""The photo-level instance channel is saved with its index version and reused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from indexing.config import IndexConfig
from indexing.instance_index import DESCRIPTOR_VERSION, KEY_FILE, PROJECTION_FILE, InstanceChannel


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


def test_channel_is_built_once_per_version_model_and_photos(
    embedder, photos: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fids = list(range(100, 106))
    pairs = [(photos[0], photos[1]), (photos[2], photos[3]), (photos[4], photos[5])]
    where = tmp_path / "v1" / "instances"
    where.parent.mkdir()

    def open_channel(model: str, image_fids=fids) -> InstanceChannel:
        return InstanceChannel.load_or_build(
            where, model, embedder.model.image, image_fids, photos, pairs,
            tmp_path / "features", IndexConfig(),
        )  # fmt: skip

    built = open_channel("model-a")
    query = Image.open(photos[3])
    assert built.search(query, 1)[0] == 103  # a photo finds itself

    def no_build(*args, **kwargs):
        raise AssertionError("a saved channel must be reused, not rebuilt")

    with monkeypatch.context() as patch:
        patch.setattr(InstanceChannel, "build", no_build)
        loaded = open_channel("model-a")
    assert list(loaded.search(query, 6)) == list(built.search(query, 6))

    open_channel("model-b")  # another model: rebuilt and saved over
    assert json.loads((where / KEY_FILE).read_text())["model"] == "model-b"
    renumbered = open_channel("model-b", [f + 10 for f in fids])  # other photos: rebuilt
    assert renumbered.search(query, 1)[0] == 113
    assert not where.with_name("instances.tmp").exists()


def test_build_describes_each_photo_once_with_the_same_result(
    embedder, photos: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import indexing.instance_index as instance_index
    from multimodal.instance_features import InstanceProjection, describe_files

    encoder, features = embedder.model.image, tmp_path / "features"
    pairs = [(photos[0], photos[1]), (photos[2], photos[3]), (photos[4], photos[5])]
    indexed = photos[:4]  # pair photos are mostly, not all, indexed ones
    described: list[Path] = []

    def counting(encoder, paths, root):
        described.extend(paths)
        return describe_files(encoder, paths, root)

    monkeypatch.setattr(instance_index, "describe_files", counting)
    channel = InstanceChannel.build(encoder, [1, 2, 3, 4], indexed, pairs, features, IndexConfig())
    assert sorted(described) == sorted(photos)  # six distinct photos, each once

    first = describe_files(encoder, [a for a, _ in pairs], features)
    second = describe_files(encoder, [b for _, b in pairs], features)
    expected = InstanceProjection.fit(first, second)
    for name, array in expected.arrays().items():
        np.testing.assert_allclose(channel.projection.arrays()[name], array, atol=1e-5)
    vectors = expected(describe_files(encoder, indexed, features))
    for fid, vector in zip([1, 2, 3, 4], vectors, strict=True):
        np.testing.assert_allclose(channel.index.reconstruct(fid), vector, atol=1e-5)


def test_channel_saved_by_older_descriptors_is_rebuilt(
    embedder, photos: list[Path], tmp_path: Path
) -> None:
    pairs = [(photos[0], photos[1]), (photos[2], photos[3])]
    where = tmp_path / "instances"

    def open_channel() -> InstanceChannel:
        return InstanceChannel.load_or_build(
            where, "model-a", embedder.model.image, [1, 2, 3], photos[:3], pairs,
            tmp_path / "features", IndexConfig(),
        )  # fmt: skip

    open_channel()
    key = json.loads((where / KEY_FILE).read_text())
    assert key["descriptor"] == DESCRIPTOR_VERSION
    del key["descriptor"]  # as a channel written before texture statistics existed
    (where / KEY_FILE).write_text(json.dumps(key))
    (where / PROJECTION_FILE).unlink()
    assert open_channel().search(Image.open(photos[2]), 1)[0] == 3
    assert json.loads((where / KEY_FILE).read_text())["descriptor"] == DESCRIPTOR_VERSION


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
