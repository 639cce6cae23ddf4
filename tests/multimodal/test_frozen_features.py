"""The runtime fills training's feature cache with what torch would have put there,
and the frozen bundle serves text vectors close to MiniLM's own."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from multimodal.bundle import load_model, new_model
from multimodal.config import TrainConfig
from multimodal.data.catalogue import CleanCatalogue
from multimodal.data.transforms import eval_transform
from multimodal.features import (
    frozen_pooled,
    image_trunk_maps,
    listing_features,
    text_trunk_states,
)
from multimodal.frozen import build_frozen_bundle
from multimodal.progress import Progress, describe, read_progress
from multimodal.runtime.frozen_features import (
    encode_photos,
    encode_texts,
    tops_on_runtime,
)
from tests.fixtures.model import FIXTURE_MODEL


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a.reshape(len(a), -1).astype(np.float64)
    b = b.reshape(len(b), -1).astype(np.float64)
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.fixture(scope="module")
def model():
    return new_model(FIXTURE_MODEL, 3).eval()


@pytest.mark.slow
def test_runtime_features_match_torch(
    model, clean_synthetic: CleanCatalogue, tmp_path: Path
) -> None:
    listings = list(clean_synthetic.listings)[:24]
    texts = [listing.text for listing in listings]
    paths = [clean_synthetic.image_path(i) for x in listings for i in x.image_ids][:16]
    runtime_root, torch_root = tmp_path / "runtime", tmp_path / "torch"
    progress = Progress(tmp_path / "progress.json")
    assert encode_texts(model, texts, runtime_root, 1, progress)[1] == len(set(texts))
    assert encode_photos(model, paths, runtime_root, 1, progress) == len(set(map(str, paths)))

    # torch finds everything the runtime cached: nothing left to compute
    cached_states, computed = text_trunk_states(model.text, texts, runtime_root)
    assert computed == 0
    preprocess = eval_transform(model.image.cfg.image_size, model.image.normalise)
    cached_maps, computed = image_trunk_maps(model.image, paths, preprocess, runtime_root)
    assert computed == 0
    torch_states, _ = text_trunk_states(model.text, texts, torch_root)
    torch_maps, _ = image_trunk_maps(model.image, paths, preprocess, torch_root)
    for ours, theirs in zip(cached_states, torch_states, strict=True):
        assert ours.shape == theirs.shape
        assert _cosines(ours, theirs).min() > 0.999
    assert _cosines(np.stack(cached_maps), np.stack(torch_maps)).min() > 0.999
    assert read_progress(tmp_path / "progress.json")["stage"] == "encoding photos"


@pytest.mark.slow
def test_runtime_tops_match_torch(model, clean_synthetic: CleanCatalogue, tmp_path: Path) -> None:
    """Stage 1's inputs (the pretrained tops over each text's cached states, each
    photo's cached map and its mirror image) from the runtime's graphs, against
    torch's, from the same cache."""
    listings = list(clean_synthetic.listings)[:12]
    feats = listing_features(model, listings, clean_synthetic, tmp_path / "features")
    tops = tops_on_runtime(model, tmp_path / "features", TrainConfig(threads=1, engine="onnx"))
    assert tops is not None
    texts, photos = frozen_pooled(model, feats, tmp_path / "runtime-pooled", tops=tops)
    torch_texts, torch_photos = frozen_pooled(model, feats, tmp_path / "torch-pooled")
    assert texts.shape == torch_texts.shape == (len(listings), model.text.dim)
    assert photos.shape == torch_photos.shape == (len(feats.photo_keys), 2, model.image.dim)
    assert not np.allclose(photos[:, 0], photos[:, 1])  # the mirror image is its own row
    assert _cosines(texts.numpy(), torch_texts.numpy()).min() >= 0.999
    flat = photos.reshape(-1, model.image.dim).numpy()
    assert _cosines(flat, torch_photos.reshape(-1, model.image.dim).numpy()).min() >= 0.999


def test_tops_fall_back_to_torch_only_under_auto(
    model, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "features"
    root.write_text("not a folder")  # nowhere to export the graphs to
    with caplog.at_level(logging.WARNING, logger="multimodal.runtime.cache"):
        assert tops_on_runtime(model, root, TrainConfig(engine="auto")) is None
    assert [r.message for r in caplog.records if "pooling with torch" in r.message]
    with pytest.raises(OSError):
        tops_on_runtime(model, root, TrainConfig(engine="onnx"))


@pytest.mark.slow
def test_frozen_bundle_keeps_minilm_neighbours(
    clean_synthetic: CleanCatalogue, tmp_path: Path
) -> None:
    listings = list(clean_synthetic.listings)
    texts = [listing.text for listing in listings]
    directory = tmp_path / "model-frozen"
    manifest, vectors = build_frozen_bundle(
        texts,
        [listing.root for listing in listings],
        directory,
        tmp_path / "features",
        FIXTURE_MODEL,
        1,
        Progress(None),
    )
    assert json.loads((directory / "manifest.json").read_text())["training"]["frozen"] is True
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-4)
    model, saved, _ = load_model(directory)  # a bundle like any other
    assert saved.fingerprint == manifest.fingerprint
    minilm = model.text.encode(texts[:64]).numpy()
    ours = vectors[:64]
    # each text's nearest other text under MiniLM is among its 5 nearest here, mostly
    theirs_best = np.argsort(-(minilm @ minilm.T - 2 * np.eye(64)), axis=1)[:, 0]
    our_top = np.argsort(-(ours @ ours.T - 2 * np.eye(64)), axis=1)[:, :5]
    kept = np.mean([best in top for best, top in zip(theirs_best, our_top, strict=True)])
    assert kept >= 0.8


def test_progress_file_says_stage_and_estimate(tmp_path: Path) -> None:
    path = tmp_path / "progress.json"
    progress = Progress(path, job="training", min_interval=0)
    assert read_progress(path) is None
    progress.update("training stage2", 0, 100, "epoch 1/4")
    progress.update("training stage2", 50, 100, "epoch 2/4")
    state = read_progress(path)
    assert state["stage"] == "training stage2" and state["done"] == 50
    assert state["stage_seconds_left"] is not None
    assert describe(state).startswith("training stage2 epoch 2/4: 50/100")
    progress.finish("failed", "out of memory")
    assert describe(read_progress(path)) == "training failed: out of memory"
    Progress(None).update("anything", 1, 2)  # no file: nothing written, no error
