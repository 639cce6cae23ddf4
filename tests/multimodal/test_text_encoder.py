from pathlib import Path

import pytest
import torch

from multimodal.config import TextEncoderConfig
from multimodal.encoders.text import TextEncoder, mean_pool, resolve_model_dir


@pytest.fixture(scope="module")
def encoder(tiny_text_model_dir: Path) -> TextEncoder:
    return TextEncoder(
        TextEncoderConfig(model=str(tiny_text_model_dir), max_tokens=16, batch_size=2)
    )


def test_encode_is_batched_and_normalised(encoder: TextEncoder) -> None:
    vectors = encoder.encode(["a red bike", "a leather sofa, barely used", "phone"])
    assert vectors.shape == (3, 32)
    torch.testing.assert_close(vectors.norm(dim=1), torch.ones(3))
    assert encoder.encode([]).shape == (0, 32)


def test_trunk_then_top_is_the_plain_model_mean_pooled(encoder: TextEncoder) -> None:
    enc = encoder.tokenize(["a red bike for sale", "sofa"])
    with torch.no_grad():
        split = encoder.top(encoder.trunk(**enc), enc["attention_mask"])
        plain = encoder.bert(**enc, token_type_ids=torch.zeros_like(enc["input_ids"]))
    expected = mean_pool(plain.last_hidden_state, enc["attention_mask"])
    torch.testing.assert_close(split, expected, atol=1e-5, rtol=1e-5)


def test_max_tokens_truncates(encoder: TextEncoder) -> None:
    enc = encoder.tokenize(["word " * 100])
    assert enc["input_ids"].shape[1] == 16


def test_split_point_and_top_parameters(tiny_text_model_dir: Path) -> None:
    enc = TextEncoder(TextEncoderConfig(model=str(tiny_text_model_dir), trainable_layers=1))
    assert enc.split == 1
    assert len(enc.top_parameters()) == sum(1 for _ in enc.bert.encoder.layer[1].parameters())
    with pytest.raises(ValueError):
        TextEncoder(TextEncoderConfig(model=str(tiny_text_model_dir), trainable_layers=3))


def test_fingerprint_names_model_and_length(encoder: TextEncoder) -> None:
    assert encoder.fingerprint.endswith("-t16")


def test_unknown_model_dir_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="neither 'minilm' nor a checkpoint"):
        resolve_model_dir(str(tmp_path))


def test_minilm_alias_resolves_to_the_shipped_model() -> None:
    assert (resolve_model_dir("minilm") / "config.json").is_file()
