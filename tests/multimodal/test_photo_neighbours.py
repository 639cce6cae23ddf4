"""The photo-neighbour vote: its maths, its fit, and its place in a bundle and the embedder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from multimodal.blending import predict_logits
from multimodal.bundle import load_model, read_manifest, save_bundle
from multimodal.config import NeighbourGrid
from multimodal.photo_neighbours import PhotoNeighbours, fit

CLASSES = 4


def clusters(n: int, seed: int, dim: int = 16, noise: float = 0.6):
    """Unit vectors around one centre per class, and their labels."""
    gen = torch.Generator().manual_seed(seed)
    centres = F.normalize(
        torch.randn(CLASSES, dim, generator=torch.Generator().manual_seed(0)), dim=1
    )
    labels = torch.arange(n) % CLASSES
    vectors = centres[labels] + noise * torch.randn(n, dim, generator=gen) / dim**0.5
    return F.normalize(vectors, dim=1), labels


def stored(k: int = 5, temperature: float = 0.05, weight: float = 1.0) -> PhotoNeighbours:
    vectors, labels = clusters(40, seed=1)
    neighbours = PhotoNeighbours.of(vectors, labels, CLASSES)
    neighbours.set(k, temperature, weight)
    return neighbours


def test_log_probs_shape_and_probabilities_sum_to_one() -> None:
    queries, _ = clusters(7, seed=2)
    log_probs = stored().log_probs(queries)
    assert log_probs.shape == (7, CLASSES) and log_probs.dtype == torch.float32
    torch.testing.assert_close(log_probs.exp().sum(1), torch.ones(7))
    assert torch.isfinite(log_probs).all()  # the floor: no class is impossible
    assert stored().log_probs(torch.zeros(0, 16)).shape == (0, CLASSES)


def test_a_query_equal_to_a_stored_vector_votes_its_label() -> None:
    neighbours = stored(k=10, temperature=0.03)
    queries = neighbours.vectors.float() * 3  # length does not matter: cosine
    assert neighbours.log_probs(queries).argmax(1).tolist() == neighbours.labels.tolist()


def test_weight_zero_leaves_the_head_prediction_unchanged() -> None:
    neighbours = stored(weight=0.0)
    queries, _ = clusters(9, seed=3)
    head = torch.randn(9, CLASSES)
    torch.testing.assert_close(neighbours.blend(head, queries), head.log_softmax(-1))
    neighbours.set(5, 0.05, 1.0)  # the vote alone
    torch.testing.assert_close(neighbours.blend(head, queries), neighbours.log_probs(queries))


def test_state_dict_round_trip_keeps_neighbours_and_predictions() -> None:
    neighbours = stored(k=20, temperature=0.1, weight=0.5)
    state = {f"neighbours.{key}": value for key, value in neighbours.state_dict().items()}
    again = PhotoNeighbours.from_state(state, CLASSES)
    again.load_state_dict(neighbours.state_dict())
    assert again.settings() == neighbours.settings()
    assert again.vectors.dtype == torch.float16 and again.vectors.shape == (40, 16)
    queries, _ = clusters(5, seed=4)
    head = torch.randn(5, CLASSES)
    assert torch.equal(again.blend(head, queries), neighbours.blend(head, queries))
    assert PhotoNeighbours.from_state({"head.mix_weights": torch.zeros(2)}, CLASSES) is None


def test_fit_raises_accuracy_where_the_head_is_poor() -> None:
    train, train_labels = clusters(200, seed=5)
    val, val_labels = clusters(80, seed=6)
    head = torch.randn(80, CLASSES, generator=torch.Generator().manual_seed(7))  # a guess
    no_photos = torch.zeros(10, 16)  # listings without photos are not stored
    neighbours, chosen = fit(
        torch.cat([train, no_photos]),
        torch.cat([train_labels, torch.zeros(10, dtype=torch.long)]),
        CLASSES,
        val,
        val_labels,
        head,
    )
    assert chosen.train_listings == 200 == len(neighbours.vectors)
    assert chosen.val_after > chosen.val_before
    grid = NeighbourGrid()
    assert chosen.weight > 0 and chosen.k in grid.k and chosen.temperature in grid.temperature
    assert neighbours.settings() == pytest.approx(
        {"k": chosen.k, "temperature": chosen.temperature, "weight": chosen.weight}
    )
    blended = neighbours.blend(head, val).argmax(1)
    assert float((blended == val_labels).float().mean()) == pytest.approx(chosen.val_after)


def test_fit_keeps_the_vote_off_when_it_cannot_help() -> None:
    train, train_labels = clusters(200, seed=5)
    val, val_labels = clusters(80, seed=6)
    perfect = F.one_hot(val_labels, CLASSES).float() * 10
    neighbours, chosen = fit(train, train_labels, CLASSES, val, val_labels, perfect)
    assert chosen.val_before == chosen.val_after == 1.0
    assert chosen.weight == 0.0 == float(neighbours.weight)


# -- in a trained bundle (the synthetic catalogue) --------------------------------------


def test_training_fits_and_saves_the_neighbours(trained_bundle_dir: Path) -> None:
    model, manifest, labels = load_model(trained_bundle_dir)
    chosen = manifest.metrics["photo_neighbours"]
    assert model.neighbours is not None
    assert model.neighbours.vectors.shape == (chosen["train_listings"], 256)
    assert model.neighbours.n_classes == len(labels)
    assert chosen["val_image_after"] >= chosen["val_image_before"]
    assert chosen["val_image_after"] == pytest.approx(manifest.metrics["val"]["image"])
    assert chosen["weight"] in NeighbourGrid().weight and chosen["k"] in NeighbourGrid().k
    assert model.neighbours.settings() == pytest.approx(
        {key: chosen[key] for key in ("k", "temperature", "weight")}
    )
    assert manifest.training["timings"]["neighbours_seconds"] >= 0


def test_stage2_training_fits_them_on_the_tuned_tops(tiny_training) -> None:
    _, manifest, result = tiny_training
    chosen = manifest.metrics["photo_neighbours"]
    assert chosen["val_image_after"] >= chosen["val_image_before"]
    assert result["timings"]["neighbours_seconds"] >= 0


def _vectors(model) -> dict[str, torch.Tensor]:
    """Joint vectors of a few made-up listings: stored photos, one perturbed, one missing."""
    photos = model.neighbours.vectors[:4].float()
    photos[1] = F.normalize(photos[1] + 0.3 * photos[2], dim=0)
    photos[3] = 0
    text = F.normalize(torch.randn(4, photos.shape[1], generator=torch.Generator().manual_seed(8)))
    has = torch.tensor([True, True, True, False])
    fused = torch.where(has[:, None], F.normalize(text + photos, dim=-1), text)
    return {"text": text, "image": photos, "fused": fused, "has_image": has}


def test_save_load_round_trip_keeps_neighbours_and_predictions(
    trained_bundle_dir: Path, tmp_path: Path
) -> None:
    model, manifest, labels = load_model(trained_bundle_dir)
    model.neighbours.set(5, 0.05, 0.5)  # a blend, whatever the tiny fit chose
    save_bundle(tmp_path, model, manifest.config, labels, manifest.data, {}, manifest.training)
    again, _, _ = load_model(tmp_path)
    for name, buffer in model.neighbours.state_dict().items():
        assert torch.equal(again.neighbours.state_dict()[name], buffer), name
    vectors = _vectors(model)
    before = predict_logits(model.head, vectors, neighbours=model.neighbours)
    after = predict_logits(again.head, vectors, neighbours=again.neighbours)
    for mode in before:
        assert torch.equal(before[mode], after[mode]), mode


def test_a_bundle_saved_without_neighbours_loads_and_predicts_as_before(
    trained_bundle_dir: Path, tmp_path: Path
) -> None:
    model, manifest, labels = load_model(trained_bundle_dir)
    vectors = _vectors(model)
    model.neighbours = None  # what every bundle saved before them holds
    save_bundle(tmp_path, model, manifest.config, labels, manifest.data, {}, manifest.training)
    assert not any(k.startswith("neighbours.") for k in torch.load(tmp_path / "weights.pt"))
    old, _, _ = load_model(tmp_path)
    assert old.neighbours is None
    image = predict_logits(old.head, vectors, neighbours=old.neighbours)["image"]
    assert torch.equal(image, predict_logits(model.head, vectors)["image"])


def test_embedder_classifies_a_photo_alone_with_the_vote(
    trained_bundle_dir: Path, clean_synthetic, tmp_path: Path
) -> None:
    from PIL import Image

    from multimodal.embedder import Embedder

    bundle = Path(shutil.copytree(trained_bundle_dir, tmp_path / "model"))
    model, _, labels = load_model(bundle)
    model.neighbours.set(1, 0.05, 1.0)  # the nearest training listing's label, alone
    embedder = Embedder(model, read_manifest(bundle), precision="fp32")
    listing = next(item for item in clean_synthetic.listings if item.image_ids)
    photo = Image.open(clean_synthetic.image_path(listing.image_ids[0])).convert("RGB")
    vector = torch.from_numpy(embedder.embed_images([photo]))
    nearest = int((model.neighbours.vectors.float() @ vector[0]).argmax())
    probs = embedder.predict_category(None, [photo])
    assert max(probs, key=probs.get) == labels.classes[int(model.neighbours.labels[nearest])]
    assert sum(probs.values()) == pytest.approx(1.0, abs=1e-5)
    with_text = embedder.predict_category(listing.text, [photo])
    model.neighbours.set(1, 0.05, 0.0)
    assert embedder.predict_category(listing.text, [photo]) == with_text  # text: no vote
