"""Randomly initialised encoders for benchmarks that must not depend on pretrained
weights (no download at run time) or on ``tests/``: a BERT of a chosen shape saved
beside a real tokenizer, in the layout ``TextEncoderConfig.model`` loads."""

from __future__ import annotations

from pathlib import Path


def random_bert(
    tokenizer_dir: Path | str,
    out: Path,
    *,
    hidden: int,
    layers: int,
    heads: int,
    intermediate: int,
    max_positions: int,
) -> Path:
    """A BERT of this shape with random weights, saved to ``out`` with the tokenizer."""
    from multimodal.torchvision_compat import import_torchvision

    import_torchvision()  # before transformers, which imports torchvision itself
    from transformers import AutoTokenizer, BertConfig, BertModel

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=intermediate,
        max_position_embeddings=max_positions,
    )
    BertModel(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
