"""Re-post groups: an identical photo or the same title and description make one ad."""

from __future__ import annotations

from api.reposts import NO_GROUP, RepostGroups
from multimodal.data.catalogue import Listing


def listing(
    listing_id: str, title: str, description: str = "", photos: tuple[str, ...] = ()
) -> Listing:
    return Listing(listing_id, title, description, 10.0, "Leeds", ("Home", "Lamps"), photos)


def build(*entries: tuple[int, Listing, tuple[str, ...]]) -> RepostGroups:
    return RepostGroups.build(entries)


def test_same_title_and_description_group_however_written() -> None:
    groups = build(
        (1, listing("a", "Mountain Bike", "Good tyres!"), ()),
        (2, listing("b", "mountain  bike", "good tyres"), ()),
        (3, listing("c", "Lamp", "brass"), ()),
    )
    assert groups.copies(1) == groups.copies(2) == (1, 2)
    assert groups.copies(3) == (3,)
    assert groups.others(2) == [1]


def test_the_same_title_with_another_description_is_another_ad() -> None:
    groups = build(
        (1, listing("a", "Mountain bike", "red, 21 gears"), ()),
        (2, listing("b", "Mountain bike", "blue, needs a chain"), ()),
    )
    assert groups.group_of(1) != groups.group_of(2)


def test_an_identical_photo_groups_and_copies_of_copies_join() -> None:
    groups = build(
        (5, listing("a", "Sofa", "grey"), ("d1",)),
        (7, listing("b", "Settee for sale", "comfy"), ("d1", "d2")),
        (9, listing("c", "Couch", "collect only"), ("d2",)),
        (11, listing("d", "Couch", "delivery"), ("d3",)),
    )
    assert groups.copies(9) == (5, 7, 9)  # 9 shares a photo with 7, which shares one with 5
    assert groups.group_of(9) == 5  # named by the smallest fid
    assert groups.copies(11) == (11,)


def test_collapse_keeps_the_best_ranked_copy_in_place() -> None:
    groups = build(
        (1, listing("a", "Lamp", "x"), ()),
        (2, listing("b", "Lamp", "x"), ()),
        (3, listing("c", "Desk", "y"), ()),
    )
    assert groups.collapse([2, 3, 1]) == [2, 3]


def test_others_keeps_only_the_allowed_copies() -> None:
    import numpy as np

    groups = build(*((f, listing(str(f), "Lamp", "x"), ()) for f in (1, 2, 3)))
    assert groups.others(1, np.array([3], np.int64)) == [3]


def test_writes_join_and_split_groups_as_a_rebuild_would() -> None:
    entries = {
        1: (listing("a", "Sofa", "grey"), ("d1",)),
        2: (listing("b", "Settee", "comfy"), ("d1", "d2")),
        3: (listing("c", "Couch", "cheap"), ("d2",)),
        4: (listing("d", "Desk", "oak"), ()),
    }
    groups = build(*((f, lst, d) for f, (lst, d) in entries.items()))
    assert groups.copies(3) == (1, 2, 3)

    # the bridge loses its photos: the group splits in three
    entries[2] = (listing("b", "Settee", "comfy"), ())
    split = groups.with_listing(2, *entries[2])
    assert [split.copies(f) for f in (1, 2, 3)] == [(1,), (2,), (3,)]
    assert groups.copies(3) == (1, 2, 3)  # the old value is untouched (copy on write)

    # a new listing re-posting the desk's text joins it
    entries[8] = (listing("e", "Desk", "oak"), ())
    joined = split.with_listing(8, *entries[8])
    assert joined.copies(8) == (4, 8)

    # deleting the middle of a chain splits it
    gone = groups.without(2)
    assert gone.copies(1) == (1,) and gone.copies(3) == (3,)
    assert gone.group_of(2) == NO_GROUP

    rebuilt = build(*((f, lst, d) for f, (lst, d) in entries.items()))
    assert rebuilt.members == joined.members
    assert (rebuilt.group_ids == joined.group_ids[: len(rebuilt.group_ids)]).all()
