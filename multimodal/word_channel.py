"""A bag-of-words classifier beside the encoders: hashed word and character n-grams.

Mean-pooled MiniLM vectors blur the exact words that decide a category here
(brands, model numbers, "size 10", "PS4"): on the real data a linear model on
TF-IDF n-grams alone classifies text better on validation than the fine-tuned
encoder, and the two err differently, so their log-probabilities are summed. The
title gets its own n-gram columns besides the whole text's: it names the item,
while a long description dilutes it with delivery and condition talk. Hashing
keeps the channel vocabulary-free: its whole state (IDF and the linear layer)
lives in the model's state dict, so a bundle needs no pickle.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from multimodal.config import WordConfig


def _vectorisers(cfg: WordConfig):
    from sklearn.feature_extraction.text import HashingVectorizer

    common = {"n_features": cfg.n_features, "alternate_sign": False, "norm": None}
    return (
        HashingVectorizer(ngram_range=(1, 2), **common),
        HashingVectorizer(analyzer="char_wb", ngram_range=(2, 5), **common),
    )


def title_of(text: str) -> str:
    """The title in a listing's text, which ``Listing.text`` writes as "title. description".

    Cutting at the first ". " also cuts the rare title that contains one; on
    validation that did no harm against the true titles. A query has no
    description, so all of it is title, as it should be.
    """
    return text.split(". ", 1)[0]


def width(cfg: WordConfig) -> int:
    """Hashed columns: words and characters, for the whole text and optionally the title."""
    return (4 if cfg.title_block else 2) * cfg.n_features


def hashed_counts(texts: Sequence[str], cfg: WordConfig):
    """``[n, width(cfg)]`` sparse sublinear term frequencies (1 + log count)."""
    from scipy.sparse import hstack

    fields = [texts, [title_of(t) for t in texts]] if cfg.title_block else [texts]
    analysers = _vectorisers(cfg)
    counts = hstack([a.transform(f) for f in fields for a in analysers]).tocsr()
    counts.data = 1.0 + np.log(counts.data)
    return counts


class WordChannel(nn.Module):
    """TF-IDF (hashed) → linear → class log-probabilities; fitted by ``fit``."""

    def __init__(self, cfg: WordConfig, n_classes: int) -> None:
        super().__init__()
        self.cfg = cfg
        columns = width(cfg)
        self.register_buffer("idf", torch.ones(columns))
        self.linear = nn.Linear(columns, n_classes)
        self.linear.requires_grad_(False)
        # How much its log-probabilities add to the encoders' text and fused ones;
        # tuned on validation with the fusion head's ``mix_weights``.
        self.register_buffer("weight", torch.zeros(()))

    def blend(self, log_probs: torch.Tensor, word_log_probs: torch.Tensor) -> torch.Tensor:
        """The encoders' class log-probabilities with this channel's added at ``weight``."""
        return (log_probs.log_softmax(-1) + self.weight * word_log_probs).log_softmax(-1)

    def _tfidf(self, texts: Sequence[str]) -> torch.Tensor:
        counts = hashed_counts(list(texts), self.cfg).tocoo()
        values = counts.data * self.idf.numpy()[counts.col]
        norms = np.sqrt(np.bincount(counts.row, values**2, minlength=counts.shape[0]))
        values = values / np.maximum(norms[counts.row], 1e-12)
        index = torch.from_numpy(np.vstack([counts.row, counts.col]).astype(np.int64))
        return torch.sparse_coo_tensor(
            index, torch.from_numpy(values.astype(np.float32)), counts.shape, check_invariants=False
        )

    @torch.no_grad()
    def log_probs(self, texts: Sequence[str]) -> torch.Tensor:
        """``[n, classes]`` log-probabilities; fp32 whatever autocast says."""
        if not texts:
            return torch.zeros(0, self.linear.out_features)
        with torch.autocast("cpu", enabled=False):
            x = self._tfidf(texts)
            logits = torch.sparse.mm(x, self.linear.weight.t()) + self.linear.bias
        return logits.log_softmax(-1)

    def fit(self, texts: Sequence[str], labels: np.ndarray) -> None:
        """Fit IDF and a multinomial logistic regression on the training texts."""
        from sklearn.feature_extraction.text import TfidfTransformer
        from sklearn.linear_model import LogisticRegression

        counts = hashed_counts(list(texts), self.cfg)
        tfidf = TfidfTransformer(sublinear_tf=False)  # counts are already sublinear
        x = tfidf.fit_transform(counts)
        classifier = LogisticRegression(C=self.cfg.c, max_iter=self.cfg.max_iter)
        classifier.fit(x, labels)
        weight = np.zeros((self.linear.out_features, x.shape[1]), np.float32)
        bias = np.full(self.linear.out_features, -1e4, np.float32)  # classes never seen
        coef, intercept = classifier.coef_, classifier.intercept_
        if len(classifier.classes_) == 2:  # binary: one row scores the second class
            coef, intercept = np.vstack([-coef, coef]) / 2, np.hstack([-intercept, intercept]) / 2
        weight[classifier.classes_] = coef
        bias[classifier.classes_] = intercept
        with torch.no_grad():
            self.idf.copy_(torch.from_numpy(tfidf.idf_.astype(np.float32)))
            self.linear.weight.copy_(torch.from_numpy(weight))
            self.linear.bias.copy_(torch.from_numpy(bias))

    def fit_key(self, texts: Sequence[str], labels: np.ndarray) -> str:
        """What a fit depends on: settings, classes, scikit-learn's version, texts, labels."""
        import sklearn

        digest = hashlib.sha1()
        head = [asdict(self.cfg), self.linear.out_features, sklearn.__version__]
        digest.update(json.dumps(head, sort_keys=True).encode())
        for text, label in zip(texts, np.asarray(labels).tolist(), strict=True):
            digest.update(f"{label}\x1f{text}\x1e".encode())
        return digest.hexdigest()[:16]

    def fit_cached(self, texts: Sequence[str], labels: np.ndarray, cache_dir: Path) -> bool:
        """``fit``, or load the fit an earlier run made of the same inputs; True if loaded.

        The fit is deterministic and is the slowest step of a warm re-run on cached
        features (about 40 s on the real data), which mostly changes the heads' training.
        """
        path = cache_dir / f"{self.fit_key(texts, labels)}.npz"
        if path.exists() and self._load_fit(path):
            return True
        self.fit(texts, labels)
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"tmp-{os.getpid()}-{path.name}")  # two runs may write at once
        np.savez_compressed(
            tmp,
            idf=self.idf.numpy(),
            weight=self.linear.weight.detach().numpy(),
            bias=self.linear.bias.detach().numpy(),
        )
        tmp.replace(path)
        return False

    def _load_fit(self, path: Path) -> bool:
        """Load a saved fit; False (so it is fitted again) if the file is unreadable."""
        try:
            with np.load(path) as saved:
                arrays = {name: torch.from_numpy(saved[name]) for name in ("idf", "weight", "bias")}
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            return False
        with torch.no_grad():
            self.idf.copy_(arrays["idf"])
            self.linear.weight.copy_(arrays["weight"])
            self.linear.bias.copy_(arrays["bias"])
        return True
