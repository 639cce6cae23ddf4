"""Category labels ↔ class indices, learnt from the data and saved with models.

The classes are whatever roots the catalogue has, however many, sorted so the
same data always gives the same indices; a model stores its encoder beside its
weights so predictions decode with the classes it was trained on. Listings
without a category ("Uncategorised") are no class: they are left out of
training (see ``multimodal.data.splits``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from multimodal.data.catalogue import UNCATEGORISED


class LabelEncoder:
    def __init__(self, classes: Iterable[str]) -> None:
        self._classes = tuple(classes)
        if not self._classes:
            raise ValueError("a label encoder needs at least one class")
        if len(set(self._classes)) != len(self._classes):
            raise ValueError("label classes must be unique")
        self._index = {label: i for i, label in enumerate(self._classes)}

    @classmethod
    def fit(cls, labels: Iterable[str]) -> LabelEncoder:
        """The sorted distinct labels; no category (empty or "Uncategorised") is not a class."""
        return cls(sorted({label for label in labels if label and label != UNCATEGORISED}))

    @property
    def classes(self) -> list[str]:
        return list(self._classes)

    def __len__(self) -> int:
        return len(self._classes)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LabelEncoder) and self._classes == other._classes

    def __hash__(self) -> int:
        return hash(self._classes)

    def __repr__(self) -> str:
        return f"LabelEncoder({len(self)} classes)"

    def encode(self, label: str) -> int:
        try:
            return self._index[label]
        except KeyError:
            raise ValueError(
                f"unknown label {label!r}: not one of the {len(self)} classes"
            ) from None

    def decode(self, index: int) -> str:
        if not 0 <= index < len(self._classes):
            raise ValueError(f"class index {index} out of range 0..{len(self) - 1}")
        return self._classes[index]

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"classes": list(self._classes)}, indent=1, ensure_ascii=False))

    @classmethod
    def load(cls, path: Path) -> LabelEncoder:
        try:
            return cls(json.loads(path.read_text())["classes"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path} is not a label file: {exc}") from exc
