"""The label encoder: classes from the data, sorted, saved and loaded."""

from __future__ import annotations

import pytest

from multimodal.data.catalogue import UNCATEGORISED
from multimodal.data.labels import LabelEncoder


def test_fit_sorts_distinct_labels_and_round_trips(tmp_path):
    labels = LabelEncoder.fit(["Toys", "Books", "Toys", "", "Art"])
    assert labels.classes == ["Art", "Books", "Toys"] and len(labels) == 3
    assert [labels.decode(labels.encode(c)) for c in labels.classes] == labels.classes
    labels.save(tmp_path / "labels.json")
    assert LabelEncoder.load(tmp_path / "labels.json") == labels


def test_uncategorised_is_no_class():
    labels = LabelEncoder.fit(["Toys", UNCATEGORISED, "Art", ""])
    assert labels.classes == ["Art", "Toys"]


def test_built_from_the_catalogue_not_hard_coded(clean_synthetic):
    labels = LabelEncoder.fit(listing.root for listing in clean_synthetic.listings)
    assert labels.classes == clean_synthetic.roots and len(labels) == 6


def test_unknown_labels_and_indices_are_refused(tmp_path):
    labels = LabelEncoder.fit(["a", "b"])
    with pytest.raises(ValueError, match="unknown label"):
        labels.encode("c")
    with pytest.raises(ValueError, match="out of range"):
        labels.decode(2)
    with pytest.raises(ValueError, match="at least one"):
        LabelEncoder.fit([])
    (tmp_path / "bad.json").write_text("[]")
    with pytest.raises(ValueError, match="not a label file"):
        LabelEncoder.load(tmp_path / "bad.json")
