"""The evaluation's questions, checked by hand on a five-listing catalogue."""

from evaluation.queries import (
    TextQuery,
    category_name_queries,
    duplicate_sets,
    name_part,
    other_photo_queries,
    other_root_user,
    simulated_users,
    title_queries,
)
from multimodal.data.catalogue import UNCATEGORISED, Listing


def listing(id_, title, path, images=(), description=""):
    return Listing(id_, title, description, 1.0, "Leeds", tuple(path), tuple(images))


LISTINGS = [
    listing("a", "Red sofa", ["Home", "Sofas"], ["a1", "a2"], "comfy"),
    listing("b", "red  SOFA!", ["Home", "Sofas"], ["b1"], "Comfy"),  # a re-post of a
    listing("c", "Laptop", ["Computers", "Laptops"], ["c1", "c2"]),
    listing("d", "Mouse", ["Computers", "Other"], []),
    listing("e", "Lamp", ["Home", "Lighting", "Other"], ["e1", "e2", "e3"]),
]


def test_reposts_share_a_duplicate_set():
    sets = duplicate_sets(LISTINGS)
    assert sets["a"] == sets["b"] == frozenset({"a", "b"})
    assert sets["c"] == frozenset({"c"})


def test_title_query_is_answered_by_the_listing_or_its_repost():
    queries = title_queries(LISTINGS, ["a", "c"], None, seed=0)
    assert queries == [
        TextQuery("Red sofa", "Home", frozenset({"a", "b"})),
        TextQuery("Laptop", "Computers", frozenset({"c"})),
    ]


def test_other_photo_queries_need_two_photos():
    assert [x.id for x in other_photo_queries(LISTINGS, ["a", "b", "d", "e"], None, 0)] == [
        "a",
        "e",
    ]
    assert len(other_photo_queries(LISTINGS, ["a", "c", "e"], 2, 0)) == 2


def test_category_names_skip_generic_and_shared_names():
    names = category_name_queries(LISTINGS)
    assert names["root names"] == [TextQuery("Computers", "Computers"), TextQuery("Home", "Home")]
    # "Other" is generic (and under both roots): left out
    assert names["sub-category names"] == [
        TextQuery("Laptops", "Computers"),
        TextQuery("Lighting", "Home"),
        TextQuery("Sofas", "Home"),
    ]


def test_users_have_history_in_one_root_from_the_given_ids_only():
    users = simulated_users(LISTINGS, ["a", "b", "e", "c"], per_root=2, history_size=2, seed=0)
    # Computers has one history listing (< 2): no users there
    assert [u.root for u in users] == ["Home", "Home"]
    for user in users:
        assert len(user.events) == 2
        assert {lid for lid, _, _ in user.events} <= {"a", "b", "e"}
    assert users == simulated_users(LISTINGS, ["a", "b", "e", "c"], 2, 2, seed=0)


def test_clear_query_user_comes_from_another_root():
    users = simulated_users(LISTINGS, ["a", "b", "c", "d", "e"], 1, 2, seed=0)
    user = other_root_user(TextQuery("Laptop", "Computers"), users, seed=0)
    assert user.root == "Home"


def test_category_names_are_split_between_validation_and_test():
    everything = category_name_queries(LISTINGS)
    val = category_name_queries(LISTINGS, "val")
    test = category_name_queries(LISTINGS, "test")
    assert val["root names"] == []  # too few to split: root names are test queries only
    assert test["root names"] == everything["root names"]
    subs = {q.text for q in everything["sub-category names"]}
    val_subs = {q.text for q in val["sub-category names"]}
    test_subs = {q.text for q in test["sub-category names"]}
    assert val_subs | test_subs == subs and not val_subs & test_subs
    assert all(name_part(n) == "val" for n in val_subs)


def test_validation_users_are_other_users():
    ids = ["a", "b", "e", "c"]
    test = simulated_users(LISTINGS, ids, 2, 2, seed=0)
    val = simulated_users(LISTINGS, ids, 2, 2, seed=0, part="val")
    assert {u.user_id for u in test}.isdisjoint({u.user_id for u in val})
    assert [u.events for u in test] != [u.events for u in val]


def test_uncategorised_listings_ask_no_category_and_make_no_users():
    loose = [listing(f"u{i}", "Thing", [UNCATEGORISED]) for i in range(3)]
    names = category_name_queries([*LISTINGS, *loose])
    assert UNCATEGORISED not in {q.text for q in names["root names"]}
    users = simulated_users([*LISTINGS, *loose], ["a", "b", "u0", "u1", "u2"], 1, 2, seed=0)
    assert [u.root for u in users] == ["Home"]
