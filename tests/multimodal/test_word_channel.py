"""The bag-of-n-grams channel: fitting, its state dict, and its place in a bundle."""

from __future__ import annotations

import numpy as np
import torch

from multimodal.config import ModelConfig, WordConfig
from multimodal.word_channel import WordChannel, hashed_counts, title_of, width

TEXTS = [
    "ps4 console with two controllers",
    "games console with two pads",
    "nintendo switch console and games",
    "oak dining table and four chairs",
    "pine wardrobe with drawers",
    "leather sofa three seater",
]
LABELS = np.array([0, 0, 0, 2, 2, 2])  # class 1 never appears in training


SMALL = WordConfig(n_features=2**10)


def fitted() -> WordChannel:
    channel = WordChannel(SMALL, n_classes=3)
    channel.fit(TEXTS, LABELS)
    return channel


def test_fit_learns_the_training_texts_and_never_predicts_an_unseen_class() -> None:
    log_probs = fitted().log_probs([*TEXTS, "playstation console", "wooden chairs and table"])
    assert log_probs.shape == (8, 3)
    np.testing.assert_allclose(log_probs.exp().sum(1).numpy(), 1.0, atol=1e-5)
    assert log_probs.argmax(1).tolist() == [0, 0, 0, 2, 2, 2, 0, 2]
    assert float(log_probs[:, 1].exp().max()) < 1e-6


def test_state_dict_round_trip_gives_the_same_predictions() -> None:
    channel = fitted()
    again = WordChannel(SMALL, n_classes=3)
    again.load_state_dict(channel.state_dict())
    torch.testing.assert_close(again.log_probs(TEXTS), channel.log_probs(TEXTS))


def test_a_fit_is_reused_only_for_the_same_texts_labels_and_settings(tmp_path, monkeypatch) -> None:
    first = WordChannel(SMALL, n_classes=3)
    assert first.fit_cached(TEXTS, LABELS, tmp_path) is False
    assert len(list(tmp_path.glob("*.npz"))) == 1

    def no_fit(*_args) -> None:
        raise AssertionError("a cached fit should have been loaded")

    again = WordChannel(SMALL, n_classes=3)
    monkeypatch.setattr(again, "fit", no_fit)
    assert again.fit_cached(TEXTS, LABELS, tmp_path) is True
    torch.testing.assert_close(again.log_probs(TEXTS), first.log_probs(TEXTS))

    relabelled = WordChannel(SMALL, n_classes=3)
    assert relabelled.fit_cached(TEXTS, LABELS[::-1].copy(), tmp_path) is False
    other_settings = WordChannel(WordConfig(n_features=2**10, c=1.0), n_classes=3)
    assert other_settings.fit_cached(TEXTS, LABELS, tmp_path) is False
    assert len(list(tmp_path.glob("*.npz"))) == 3


def test_an_unreadable_cached_fit_is_fitted_again(tmp_path) -> None:
    first = WordChannel(SMALL, n_classes=3)
    first.fit_cached(TEXTS, LABELS, tmp_path)
    (saved,) = tmp_path.glob("*.npz")
    saved.write_bytes(b"not a zip file")
    again = WordChannel(SMALL, n_classes=3)
    assert again.fit_cached(TEXTS, LABELS, tmp_path) is False
    torch.testing.assert_close(again.log_probs(TEXTS), first.log_probs(TEXTS))
    assert WordChannel(SMALL, n_classes=3).fit_cached(TEXTS, LABELS, tmp_path) is True


def test_blend_at_weight_zero_is_the_encoders_prediction() -> None:
    channel = fitted()
    encoders = torch.log_softmax(torch.tensor([[2.0, 0.0, 1.0]]), -1)
    words = channel.log_probs(["oak table"])
    torch.testing.assert_close(channel.blend(encoders, words), encoders)
    channel.weight.fill_(5.0)
    assert int(channel.blend(encoders, words).argmax()) == 2


def test_bundles_from_before_the_channel_have_none() -> None:
    old = ModelConfig().to_dict()
    del old["word"]
    assert ModelConfig.from_dict(old).word.n_features == 0


def test_a_channel_saved_before_the_title_block_loads_without_one() -> None:
    old_cfg = WordConfig(n_features=2**10, title_block=False)
    old = WordChannel(old_cfg, n_classes=3)
    old.fit(TEXTS, LABELS)
    saved = {**ModelConfig().to_dict(), "word": {"n_features": 2**10, "c": 10.0, "max_iter": 2000}}
    cfg = ModelConfig.from_dict(saved).word
    assert not cfg.title_block
    again = WordChannel(cfg, n_classes=3)
    again.load_state_dict(old.state_dict())  # same width: the shapes fit
    torch.testing.assert_close(again.log_probs(TEXTS), old.log_probs(TEXTS))


def test_title_is_the_text_up_to_the_first_full_stop() -> None:
    assert title_of("Oak table. Solid oak. Collection only") == "Oak table"
    assert title_of("oak table") == "oak table"  # a query: all title
    assert title_of("Mr. Men books") == "Mr"  # the accepted cost of not knowing the fields


def test_title_block_counts_title_words_in_their_own_columns() -> None:
    cfg = WordConfig(n_features=2**10)
    counts = hashed_counts(["Oak table. Pine chairs"], cfg)
    assert counts.shape == (1, width(cfg)) == (1, 4 * 2**10)
    whole, title = counts[:, : 2 * cfg.n_features], counts[:, 2 * cfg.n_features :]
    assert title.nnz < whole.nnz  # "pine chairs" is only in the whole text's columns
    only_title = hashed_counts(["Oak table"], cfg)[:, 2 * cfg.n_features :]
    assert (title != only_title).nnz == 0


def test_saved_bundle_carries_the_fitted_channel(trained_bundle_dir) -> None:
    from multimodal.bundle import load_model, read_manifest
    from multimodal.config import TrainConfig

    model, manifest, _ = load_model(trained_bundle_dir)
    assert model.word is not None
    assert float(model.word.weight) in TrainConfig().word_grid
    assert manifest.metrics["word_weight"] == float(model.word.weight)
    assert float(model.word.idf.max()) > 1.0  # fitted, not the initial ones
    assert read_manifest(trained_bundle_dir).config.word.n_features == 2**12
