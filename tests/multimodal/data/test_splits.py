"""Split integrity: fractions, strata, products and duplicate groups never shared."""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict

import pytest

from multimodal.data.catalogue import UNCATEGORISED, Listing
from multimodal.data.cleaning import CleanReport, clean_rows
from multimodal.data.raw import read_gumtree
from multimodal.data.splits import (
    SPLIT_NAMES,
    Split,
    load_or_make_split,
    make_split,
    normalise_text,
)


def _listing(i: int, root: str, title: str | None = None) -> Listing:
    return Listing(
        id=f"id-{i:04d}",
        title=title or f"item {i}",
        description="",
        price=1.0,
        location="",
        category_path=(root, "Sub"),
    )


def _assert_integrity(split: Split, listings) -> None:
    seen = [i for name in SPLIT_NAMES for i in split.ids(name)]
    assert len(seen) == len(set(seen)) == len(listings)  # every listing in exactly one split
    assert set(seen) == {listing.id for listing in listings}
    where = split.assignment()
    groups = defaultdict(set)
    for listing in listings:
        groups[normalise_text(listing.title, listing.description)].add(where[listing.id])
    assert all(len(names) == 1 for names in groups.values())  # duplicates never straddle


def test_normalise_text_ignores_case_punctuation_and_emoji():
    text = normalise_text("💥Sofa!!  For SALE💥", "Grey,\r\nlike new ")
    assert text == "sofa for sale grey like new"
    assert normalise_text("Café", "") == normalise_text("CAFÉ", "")
    assert normalise_text("", "   ") == ""


def test_fractions_and_stratification(clean_synthetic):
    listings = clean_synthetic.listings
    split = make_split(listings, seed=0)
    _assert_integrity(split, listings)
    n = len(listings)
    for name, fraction in zip(SPLIT_NAMES, (0.7, 0.15, 0.15), strict=True):
        assert abs(len(split.ids(name)) - fraction * n) <= 0.03 * n
    per_root = Counter(listing.root for listing in listings)
    for root, total in per_root.items():
        assert abs(split.counts["train"][root] - 0.7 * total) <= 4  # each root is split 70/15/15
        assert split.counts["val"][root] >= 1 and split.counts["test"][root] >= 1
    assert split.duplicate_groups > 0 and split.listings_in_duplicate_groups >= 2 * 2


def test_split_is_by_product_so_photos_never_straddle(clean_synthetic):
    split = make_split(clean_synthetic.listings, seed=0)
    owner = {}
    for listing in clean_synthetic.listings:
        for image_id in listing.image_ids:
            owner[image_id] = split.assignment()[listing.id]
    by_listing = {
        listing.id: {owner[i] for i in listing.image_ids} for listing in clean_synthetic.listings
    }
    assert all(len(names) <= 1 for names in by_listing.values())


def test_duplicate_groups_stay_together_even_when_large():
    listings = [_listing(i, "A") for i in range(60)]
    listings += [_listing(100 + i, "A", title="Same ad every time!") for i in range(12)]
    listings += [_listing(200 + i, "B", title=f"pair {i // 2}") for i in range(20)]
    split = make_split(listings, seed=5)
    _assert_integrity(split, listings)
    assert split.duplicate_groups == 11 and split.listings_in_duplicate_groups == 32


def test_seeded_order_free_and_seed_sensitive(clean_synthetic):
    listings = list(clean_synthetic.listings)
    a = make_split(listings, seed=1)
    assert make_split(list(reversed(listings)), seed=1) == a
    assert make_split(listings, seed=2).train != a.train


def test_bad_fractions_and_duplicate_ids_are_refused():
    listings = [_listing(i, "A") for i in range(10)]
    with pytest.raises(ValueError, match="fractions"):
        make_split(listings, fractions=(0.8, 0.3, 0.1))
    with pytest.raises(ValueError, match="unique"):
        make_split([*listings, listings[0]])


def test_save_and_load_round_trip(clean_synthetic, tmp_path):
    split = make_split(clean_synthetic.listings, seed=0)
    split.save(tmp_path / "split.json")
    assert Split.load(tmp_path / "split.json") == split
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match="not a valid split file"):
        Split.load(tmp_path / "bad.json")


def test_load_or_make_reuses_and_extends_without_moving(clean_synthetic, tmp_path):
    path = tmp_path / "split.json"
    old = list(clean_synthetic.listings[:250])
    first = load_or_make_split(path, old, seed=0)
    assert load_or_make_split(path, old, seed=0) == first
    # The catalogue changes: one listing gone, new ones (one re-posting an old ad).
    duplicate = dataclasses.replace(old[0], id="zz-repost")
    grown = old[1:] + list(clean_synthetic.listings[250:]) + [duplicate]
    second = load_or_make_split(path, grown, seed=0)
    before, after = first.assignment(), second.assignment()
    assert all(after[i] == before[i] for i in after if i in before)  # nobody moved
    assert old[0].id not in after
    assert after["zz-repost"] == before[old[0].id]
    _assert_integrity(second, grown)
    assert Split.load(path) == second
    assert load_or_make_split(path, grown, seed=0) == second  # deterministic


def test_uncategorised_listings_are_in_no_split(tmp_path):
    listings = [_listing(i, ("Toys", "Books")[i % 2]) for i in range(40)]
    loose = [_listing(100 + i, UNCATEGORISED) for i in range(5)]
    split = make_split([*listings, *loose], seed=0)
    _assert_integrity(split, listings)
    assert UNCATEGORISED not in {root for counts in split.counts.values() for root in counts}
    saved = load_or_make_split(tmp_path / "split.json", [*listings, *loose], seed=0)
    assert not {listing.id for listing in loose} & set(saved.assignment())


def test_load_or_make_refuses_another_seed(clean_synthetic, tmp_path):
    path = tmp_path / "split.json"
    load_or_make_split(path, clean_synthetic.listings, seed=0)
    with pytest.raises(ValueError, match="made with seed 0, not 7"):
        load_or_make_split(path, clean_synthetic.listings, seed=7)


@pytest.mark.realdata
def test_real_data_split_keeps_groups_whole(real_data_dir):
    report = CleanReport(data_dir=str(real_data_dir), out_dir="", image_size=0)
    listings = [listing for listing, _ in clean_rows(read_gumtree(real_data_dir), report)]
    split = make_split(listings, seed=0)
    _assert_integrity(split, listings)
    assert len(listings) == 7156 and split.duplicate_groups > 0
    assert len(split.counts["train"]) == 13
    assert abs(len(split.train) - 0.7 * 7156) < 10
