"""The second synthetic catalogue: generic format, another shape, every per-row problem."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import pytest

from multimodal.data.catalogue import UNCATEGORISED, load_clean_catalogue
from multimodal.data.cleaning import clean_catalogue
from multimodal.data.labels import LabelEncoder
from multimodal.data.rows import RawDataError
from multimodal.data.splits import make_split
from multimodal.data.synthetic_generic import generate_generic_catalogue


def _digest(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_same_seed_same_bytes(tmp_path):
    a = generate_generic_catalogue(tmp_path / "a", n_listings=40, seed=5)
    b = generate_generic_catalogue(tmp_path / "b", n_listings=40, seed=5)
    assert _digest(a.path.parent) == _digest(b.path.parent)
    with pytest.raises(ValueError, match="at least 40"):
        generate_generic_catalogue(tmp_path / "c", n_listings=39)


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_imports_with_the_expected_counts_and_problem_rows(tmp_path, fmt):
    if fmt == "parquet":
        pytest.importorskip("pyarrow")
    made = generate_generic_catalogue(tmp_path / "raw", n_listings=160, seed=0, fmt=fmt)
    with pytest.raises(RawDataError, match="not a catalogue"):  # its columns need the map
        clean_catalogue(made.path, tmp_path / "clean", progress=False)
    report = clean_catalogue(
        made.path,
        tmp_path / "clean",
        image_size=16,
        progress=False,
        mapping=made.mapping,
        currency=made.currency,
    )
    assert report.products_raw == 160 and report.products == 160 - 6
    found: dict[str, set[str]] = {}
    for entry in report.dropped_products + report.row_problems:
        found.setdefault(entry["reason"], set()).add(entry["row"])
    for entry in report.bad_images:
        found.setdefault("unreadable photo", set()).add(entry["row"])
    assert found == {kind: set(rows) for kind, rows in made.problems.items()}
    assert all(len(rows) == 2 for rows in made.problems.values()) and len(made.problems) == 6
    assert report.currencies == {"EUR": 154} and report.uncategorised == 2
    assert len(report.bad_images) == 2
    assert (
        report.images + len(report.bad_images) + len(report.dropped_image_rows) == report.images_raw
    )

    catalogue = load_clean_catalogue(tmp_path / "clean")
    roots = Counter(listing.root for listing in catalogue.listings if listing.categorised)
    assert len(roots) == 4 and "Haus & Möbel" in roots
    sizes = sorted(roots.values())
    assert sizes[-1] > 3 * sizes[0]  # uneven classes
    depths = {len(listing.category_path) for listing in catalogue.listings if listing.categorised}
    assert depths == {4}
    assert UNCATEGORISED in catalogue.roots
    labels = LabelEncoder.fit(listing.root for listing in catalogue.listings)
    assert len(labels) == 4 and UNCATEGORISED not in labels.classes
    split = make_split(catalogue.listings)
    assert sum(len(split.ids(name)) for name in ("train", "val", "test")) == 154 - 2
    photo_dirs = {p.parent.relative_to(made.path.parent) for p in made.path.parent.rglob("*.jpg")}
    assert all(len(d.parts) == 3 for d in photo_dirs)  # photos/<root>/<prefix>/
