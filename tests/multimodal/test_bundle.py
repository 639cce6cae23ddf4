import json
import shutil
from pathlib import Path

import pytest
import torch

from multimodal.bundle import BundleError, load_model, read_manifest, save_bundle
from multimodal.data.labels import LabelEncoder


@pytest.fixture()
def bundle_copy(tiny_training, tmp_path: Path) -> Path:
    ws, _, _ = tiny_training
    return Path(shutil.copytree(ws.model_dir, tmp_path / "model"))


def _text_vectors(model, texts: list[str]) -> torch.Tensor:
    enc = model.text.tokenize(texts)
    with torch.no_grad():
        return model.text_vectors(model.text.trunk(**enc), enc["attention_mask"])


def test_save_load_round_trip(bundle_copy: Path, tmp_path: Path) -> None:
    model, manifest, labels = load_model(bundle_copy)
    again = save_bundle(
        tmp_path / "again",
        model,
        manifest.config,
        labels,
        data=manifest.data,
        metrics=manifest.metrics,
        training=manifest.training,
    )
    assert again.fingerprint == manifest.fingerprint  # identical weights
    reloaded, _, reloaded_labels = load_model(tmp_path / "again")
    assert reloaded_labels == labels
    texts = ["a leather sofa", "running shoes size 9"]
    torch.testing.assert_close(_text_vectors(model, texts), _text_vectors(reloaded, texts))


def test_missing_bundle(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="no model at"):
        load_model(tmp_path)


def test_changed_weights_are_refused(bundle_copy: Path) -> None:
    state = torch.load(bundle_copy / "weights.pt", weights_only=True)
    first = next(iter(state))
    state[first] = state[first] + 1
    torch.save(state, bundle_copy / "weights.pt")
    with pytest.raises(BundleError, match="does not match its manifest"):
        load_model(bundle_copy)


def test_labels_not_matching_manifest_are_refused(bundle_copy: Path) -> None:
    LabelEncoder(["just", "two"]).save(bundle_copy / "labels.json")
    with pytest.raises(BundleError, match="does not match the manifest"):
        load_model(bundle_copy)


def test_config_not_matching_weights_is_refused(bundle_copy: Path) -> None:
    path = bundle_copy / "manifest.json"
    raw = json.loads(path.read_text())
    raw["config"]["fusion"]["embed_dim"] = 64
    path.write_text(json.dumps(raw))
    with pytest.raises(BundleError, match="do not fit the manifest"):
        load_model(bundle_copy)


def test_unknown_format_is_refused(bundle_copy: Path) -> None:
    path = bundle_copy / "manifest.json"
    raw = json.loads(path.read_text())
    raw["format"] = "something-else/9"
    path.write_text(json.dumps(raw))
    with pytest.raises(BundleError, match="unknown model format"):
        read_manifest(bundle_copy)
