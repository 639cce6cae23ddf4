"""The ONNX runtime against torch, and its cache beside the bundle."""

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from multimodal.data.catalogue import CleanCatalogue
from multimodal.embedder import Embedder, ListingContent
from multimodal.instance_features import describe_images
from multimodal.runtime.cache import RUNTIME_DIR, runtime_dir


@pytest.fixture(scope="module")
def bundle(trained_bundle_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the fixture bundle, without any runtime cache in it."""
    out = tmp_path_factory.mktemp("runtime") / "model"
    shutil.copytree(trained_bundle_dir, out, ignore=shutil.ignore_patterns(RUNTIME_DIR))
    return out


@pytest.fixture(scope="module")
def engines(bundle: Path) -> tuple[Embedder, Embedder]:
    return Embedder.load(bundle, "fp32", engine="onnx"), Embedder.load(
        bundle, "fp32", engine="torch"
    )


def _photos(catalogue: CleanCatalogue, listing) -> list[Image.Image]:
    return [Image.open(catalogue.image_path(i)).convert("RGB") for i in listing.image_ids]


def _min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    return float(np.min(np.sum(a * b, axis=-1)))


@pytest.mark.slow
def test_every_vector_kind_matches_torch(
    engines: tuple[Embedder, Embedder], clean_synthetic: CleanCatalogue
) -> None:
    runtime, torch_fp32 = engines
    assert (runtime.engine, torch_fp32.engine) == ("onnx", "torch")
    listings = list(clean_synthetic.listings)[:24]
    photos = [_photos(clean_synthetic, x) for x in listings]
    flat = [p for own in photos for p in own]
    pairs = [(x.title, own[0]) for x, own in zip(listings, photos, strict=True) if own][:6]
    assert len(flat) > 20 and len(pairs) == 6

    def every_kind(e: Embedder) -> dict[str, np.ndarray]:
        items = [ListingContent(x.text, own) for x, own in zip(listings, photos, strict=True)]
        raw = describe_images(e.image_encoder, [p for _, p in pairs])
        return {
            "listing": e.embed_listings(items),
            "photo": e.embed_images(flat),
            "text": e.embed_texts([x.text for x in listings]),
            "query_text": np.stack([e.embed_query(t) for t, _ in pairs]),
            "query_photo": np.stack([e.embed_query(None, p) for _, p in pairs]),
            "query_both": np.stack([e.embed_query(t, p) for t, p in pairs]),
            "instance_pooled": raw.pooled,
            "instance_texture": raw.texture,
        }

    got, want = every_kind(runtime), every_kind(torch_fp32)
    cosines = {kind: _min_cosine(got[kind], want[kind]) for kind in want}
    assert min(cosines.values()) >= 0.999, cosines
    got_probs = runtime.predict_category(listings[0].text, photos[0])
    want_probs = torch_fp32.predict_category(listings[0].text, photos[0])
    assert max(got_probs, key=got_probs.get) == max(want_probs, key=want_probs.get)


@pytest.mark.slow
def test_the_graphs_are_cached_by_fingerprint_and_reused(
    bundle: Path, engines: tuple[Embedder, Embedder]
) -> None:
    runtime, _ = engines
    cached = runtime_dir(bundle, runtime.fingerprint)
    assert runtime.fingerprint in cached.name and cached.parent == bundle / RUNTIME_DIR
    stamps = {p.name: p.stat().st_mtime_ns for p in cached.iterdir()}
    assert Embedder.load(bundle, "fp32", engine="onnx").engine == "onnx"
    assert {p.name: p.stat().st_mtime_ns for p in cached.iterdir()} == stamps  # not re-exported
    assert [p.name for p in (bundle / RUNTIME_DIR).iterdir()] == [cached.name]


@pytest.mark.slow
def test_stale_and_partial_caches_are_rebuilt(bundle: Path, tmp_path: Path) -> None:
    model = tmp_path / "model"
    shutil.copytree(bundle, model, ignore=shutil.ignore_patterns(RUNTIME_DIR))
    stale = model / RUNTIME_DIR / "onnx-0123456789abcdef-e1"
    stale.mkdir(parents=True)
    embedder = Embedder.load(model, "fp32", engine="onnx")
    cached = runtime_dir(model, embedder.fingerprint)
    (cached / "image_top.onnx").unlink()  # a cache left half-deleted
    assert not stale.exists()
    rebuilt = Embedder.load(model, "fp32", engine="onnx")
    assert (cached / "image_top.onnx").is_file()
    text = "a blue sofa"
    np.testing.assert_allclose(rebuilt.embed_texts([text]), embedder.embed_texts([text]), atol=1e-6)


@pytest.mark.slow
def test_auto_falls_back_to_torch_when_the_export_fails(
    bundle: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    model = tmp_path / "model"
    shutil.copytree(bundle, model, ignore=shutil.ignore_patterns(RUNTIME_DIR))
    (model / RUNTIME_DIR).write_text("not a folder")  # nowhere to export to
    with caplog.at_level(logging.WARNING, logger="multimodal.runtime.cache"):
        embedder = Embedder.load(model, "fp32", engine="auto")
    assert embedder.engine == "torch" and embedder.embed_texts(["a lamp"]).shape == (1, 256)
    assert [r.message for r in caplog.records if "encoding with torch" in r.message]
    with pytest.raises(OSError):
        Embedder.load(model, "fp32", engine="onnx")
    assert Embedder.load(model, "fp32", engine="torch").engine == "torch"
    with pytest.raises(ValueError, match="engine must be one of"):
        Embedder.load(model, "fp32", engine="tensorrt")


def test_settings_name_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    from api.settings import Settings

    assert Settings().engine == "auto"
    monkeypatch.setenv("MARKETPLACE_ENGINE", "torch")
    assert Settings().engine == "torch"
    monkeypatch.setenv("MARKETPLACE_ENGINE", "tensorrt")
    with pytest.raises(ValidationError):
        Settings()


def test_sessions_let_their_threads_sleep_between_runs(tmp_path: Path) -> None:
    """On two cores a spinning pool takes the machine from the next graph and from
    the photo decoder (docs/runtime.md), so every session turns spinning off."""
    import onnx
    from onnx import TensorProto, helper

    from multimodal.runtime.session import runtime_session

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 4])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "relu", [x], [y])
    path = tmp_path / "relu.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    session = runtime_session(path, threads=2)
    options = session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert options.intra_op_num_threads == 2
    out = session.run(None, {"x": np.array([[-1.0, 2.0, -3.0, 4.0]], np.float32)})[0]
    np.testing.assert_array_equal(out, [[0.0, 2.0, 0.0, 4.0]])
