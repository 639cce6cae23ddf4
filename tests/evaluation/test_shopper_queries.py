"""Shopper queries: the seeded generator, the hand-written file, the figures, the command."""

from __future__ import annotations

import json
import random
import re
from dataclasses import replace
from pathlib import Path

import pytest
from rapidfuzz.distance import OSA

from evaluation.query_evaluation import QueryEvalConfig, run_query_evaluation, targets
from evaluation.query_figures import (
    category_precision,
    groups_reposts,
    holds_two_copies,
    near_duplicate_groups,
    obeying_share,
    parsed_exactly,
    percentile,
    share,
)
from evaluation.shopper_queries import (
    ExpectedParse,
    askable,
    intents,
    load_handwritten,
    typo_pairs,
    vocabulary,
)
from evaluation.typos import KEYBOARD_NEIGHBOURS, MIN_LONG_WORD, misspell
from evaluation.world import VectorSources
from multimodal.data.catalogue import Listing
from scripts.cli import main
from tests.fixtures.hashing_embedder import HashingEmbedder

# -- the generator -------------------------------------------------------------------


def edit_kind(clean: str, typo: str) -> str | None:
    """Which allowed slip turns ``clean`` into ``typo`` (None: none does)."""
    if clean[0] != typo[0] or OSA.distance(clean, typo) != 1:
        return None
    if len(typo) == len(clean) - 1:
        return "deletion"
    if len(typo) == len(clean) + 1:
        i = next(
            (i for i, (a, b) in enumerate(zip(clean, typo, strict=False)) if a != b), len(clean)
        )
        return "doubling" if typo[i] == typo[i - 1] or typo[i] == typo[i + 1] else None
    spots = [i for i, (a, b) in enumerate(zip(clean, typo, strict=True)) if a != b]
    if len(spots) == 2:
        return "transposition"
    a, b = clean[spots[0]].lower(), typo[spots[0]].lower()
    return "neighbour" if b in KEYBOARD_NEIGHBOURS.get(a, "") else None


def test_typos_are_single_slips_in_long_words_only(clean_synthetic):
    pairs = typo_pairs(clean_synthetic.listings, 200, seed=3)
    assert len(pairs) == 200
    kinds = set()
    for pair in pairs:
        clean, typo = re.split(r"(\W+)", pair.clean), re.split(r"(\W+)", pair.typo)
        assert len(clean) == len(typo) and pair.clean != pair.typo
        for a, b in zip(clean, typo, strict=True):
            if a == b:
                continue
            assert a.isalpha() and len(a) >= MIN_LONG_WORD, (a, b)
            kinds.add(edit_kind(a, b))
    assert kinds == {"deletion", "transposition", "neighbour", "doubling"}


def test_numbers_model_numbers_and_short_words_are_never_touched():
    rng = random.Random(0)
    for _ in range(200):
        title = "iPhone11 Pro 256GB PS4 console 4K tv 2 seater sofas"
        typo = misspell(title, rng, rate=1.0)
        kept = [w for w in title.split() if not (w.isalpha() and len(w) >= MIN_LONG_WORD)]
        assert [w for w in typo.split() if w in kept] == kept
    assert misspell("PS4 for 50 quid", rng) is None  # no long word to misspell


def test_the_generator_is_seeded(clean_synthetic):
    vocab = vocabulary(clean_synthetic.listings)
    assert intents(vocab, 50, seed=1) == intents(vocab, 50, seed=1)
    assert intents(vocab, 50, seed=1) != intents(vocab, 50, seed=2)
    listings = clean_synthetic.listings
    assert typo_pairs(listings, 30, seed=1) == typo_pairs(listings, 30, seed=1)
    assert typo_pairs(listings, 30, seed=1) != typo_pairs(listings, 30, seed=2)


def test_intents_state_what_they_expect(clean_synthetic):
    vocab = vocabulary(clean_synthetic.listings)
    generated = intents(vocab, 200, seed=0)
    assert len(generated) == 200
    assert len({q.form for q in generated}) == 13  # every phrasing, places included
    roots = {listing.root for listing in clean_synthetic.listings}
    for q in generated:
        e, text = q.expected, q.query.casefold()
        assert e.text in text and e.root in roots
        for amount in (e.price_min, e.price_max):
            if amount:
                assert re.search(rf"(?<![\d.]){amount:g}(?![\d.])", text), q
        assert (e.price_max == 0) == text.startswith("free ")
        if e.location is not None:
            assert e.location.casefold() in text
            assert e.location in vocab.places
        assert e.states_price or e.states_place


def test_intents_speak_the_catalogues_currency(clean_synthetic):
    euros = [replace(listing, currency="EUR") for listing in clean_synthetic.listings]
    queries = " ".join(q.query for q in intents(vocabulary(euros), 100, seed=0))
    assert "€" in queries and "euros" in queries
    assert "£" not in queries and "quid" not in queries and "pounds" not in queries


def test_places_are_not_also_things():
    """A town that titles name as a thing ("baby bath") is no place to ask about."""
    listings = [
        Listing(str(i), title, "", 5.0, location, ("Home & Garden", "Bathroom"))
        for i, (title, location) in enumerate(
            [("Baby bath", "Bath, Somerset")] * 5 + [("Mirror", "Leeds, West Yorkshire")] * 5
        )
    ]
    assert vocabulary(listings).places == ("Leeds", "Somerset", "West Yorkshire")


# -- the hand-written queries --------------------------------------------------------


def test_the_hand_written_file_is_valid_and_has_the_false_friends(clean_synthetic):
    currency, written = load_handwritten()
    assert currency == "GBP" and len(written) >= 40
    texts = {q.query for q in written}
    assert len(texts) == len(written)
    for friend in (
        "iphone 11",
        "under armour hoodie",
        "size 10 boots",
        "3 seater sofa",
        "ps4 games",
    ):
        assert friend in texts
    plain = [q for q in written if not (q.expected.states_price or q.expected.states_place)]
    assert len(plain) >= 10
    assert all(q.expected.text == q.query for q in plain)  # no filter: every word searched
    for q in written:
        if q.expected.location:
            assert q.expected.location.casefold() in q.query.casefold()
        if q.expected.price_max == 0:
            assert "free" in q.query
    askable_here = [q for q in written if askable(q, clean_synthetic.listings, currency, "GBP")]
    assert [q.query for q in written if q not in askable_here] == ["sofa bed in glasgow"]


def test_a_hand_written_file_without_the_searched_words_is_refused(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('currency = "GBP"\n[[query]]\ntext = "sofa under £5"\n', encoding="utf-8")
    with pytest.raises(ValueError, match="needs text and searched"):
        load_handwritten(path)


# -- the figures ---------------------------------------------------------------------


def response(results=(), **fields) -> dict:
    return {"results": [dict(r) for r in results], "total_candidates": 0, **fields}


def understood(text: str, **filters) -> dict:
    return {"understood": {"text": text, "filters": filters}}


SOFA = ExpectedParse("3 seater sofa", price_max=100, location="Leeds", root="Home & Garden")


@pytest.mark.parametrize(
    ("got", "right"),
    [
        (understood("3 seater sofa", price_max=100.0, location="leeds"), True),
        (understood("  3  Seater SOFA ", price_min=0, price_max=100, location="Leeds"), True),
        (understood("3 seater sofa", price_max=100), False),  # the place missed
        (understood("3 seater sofa", price_max=3, location="Leeds"), False),  # "3" read as a price
        (understood("3 sofa", price_max=100, location="Leeds", category="Home & Garden"), True),
        (understood("", price_max=100, location="Leeds", category="Home & Garden / Sofas"), True),
        (understood("3 sofa", price_max=100, location="Leeds", category="Appliances"), False),
        (understood("3 sofa", price_max=100, location="Leeds"), False),  # words lost for nothing
        (understood("sofa 3", price_max=100, location="Leeds", category="Home & Garden"), False),
    ],
)
def test_parsed_exactly(got, right):
    assert parsed_exactly(response(**got), SOFA, "3 seater sofa under £100 in leeds") is right


def test_parsed_exactly_is_not_available_without_understood():
    assert parsed_exactly(response(), SOFA, "sofa") is None
    # null: nothing was taken from the words, all of them searched
    friend = ExpectedParse("iphone 11")
    assert parsed_exactly(response(understood=None), friend, "iphone 11") is True
    assert parsed_exactly(response(understood=None), SOFA, "3 seater sofa in leeds") is False
    assert share([None, None]) is None
    assert share([True, None, False, True]) == pytest.approx(2 / 3)


def test_category_precision_counts_empty_slots_as_misses():
    root_of = {"a": "Home", "b": "Home", "c": "Toys"}
    page = response([{"id": "a"}, {"id": "c"}, {"id": "b"}])
    assert category_precision(page, root_of, "Home", k=10) == pytest.approx(0.2)
    assert category_precision(page, root_of, "Home", k=2) == pytest.approx(0.5)


def test_obeying_share():
    page = response(
        [
            {"price": 50.0, "location": "Headingley, Leeds"},
            {"price": 150.0, "location": "Leeds"},
            {"price": None, "location": "Leeds"},
            {"price": 20.0, "location": "Bristol"},
        ]
    )
    assert obeying_share(page, SOFA, k=10) == pytest.approx(0.25)
    assert obeying_share(page, ExpectedParse("sofa", price_min=20, price_max=50), 10) == 0.5
    assert obeying_share(page, ExpectedParse("sofa", price_max=0), 10) == 0.0
    assert obeying_share(page, ExpectedParse("sofa"), 10) is None  # nothing stated
    assert obeying_share(response(), SOFA, 10) is None  # nothing to judge


def test_two_copies_of_one_ad_and_grouping():
    group_of = {"a": "g1", "b": "g1", "c": "g2"}
    assert holds_two_copies(response([{"id": "a"}, {"id": "c"}, {"id": "b"}]), group_of)
    assert not holds_two_copies(response([{"id": "a"}, {"id": "c"}, {"id": "z"}]), group_of)
    assert groups_reposts(response([{"id": "a", "also_listed": ["b"]}, {"id": "c"}])) is False
    assert groups_reposts(response([{"id": "a", "also_listed": ["b"]}])) is True
    assert groups_reposts(response()) is None


def test_near_duplicates_share_text_or_a_photo():
    def listing(id_, title, description, photos):
        return Listing(id_, title, description, 1.0, "Leeds", ("Home",), photos)

    listings = [
        listing("1", "Sofa!", "Grey, comfy", ("p1",)),
        listing("2", "sofa", "grey comfy", ("p2",)),  # same words as 1
        listing("3", "Settee", "another text", ("p3",)),  # same photo as 2 (by content)
        listing("4", "Sofa", "something else", ("p4",)),
    ]
    same_photo = {"p1": "x", "p2": "y", "p3": "y", "p4": "z"}
    groups = near_duplicate_groups(listings, same_photo.__getitem__)
    assert groups["1"] == groups["2"] == groups["3"] != groups["4"]


def test_percentile_is_nearest_rank():
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.0
    assert percentile([1.0, 2.0, 3.0], 90) == 3.0
    assert percentile([], 50) is None


def test_targets_are_met_or_not_available():
    figures = {
        "category_precision@10": {"gap": 0.01},
        "parsed_exactly": {"all": None},
        "obeying@10": {"all": 0.5},
    }
    met = [t["met"] for t in targets(figures, 10).values()]
    assert met == [True, None, False]


# -- the run and the command -----------------------------------------------------------


@pytest.fixture(scope="module")
def evaluation(clean_synthetic, tmp_path_factory):
    cache = tmp_path_factory.mktemp("query-eval-cache")
    return run_query_evaluation(
        clean_synthetic, HashingEmbedder(), QueryEvalConfig(titles=60, intents=60),
        VectorSources(cache_root=cache), progress=False,
    )  # fmt: skip


def test_the_run_reports_every_figure(evaluation):
    report = evaluation.report
    assert report["queries"]["typo_pairs"] == 60 and report["queries"]["generated_intents"] == 60
    assert report["queries"]["hand_written"] >= 40
    figures = report["figures"]
    precision = figures["category_precision@10"]
    assert 0 <= precision["typo"] <= 1 and 0 <= precision["clean"] <= 1
    assert precision["gap"] == pytest.approx(precision["clean"] - precision["typo"])
    assert 0 <= figures["obeying@10"]["all"] <= 1
    assert 0 <= figures["pages_with_two_copies"]["before_grouping"] <= 1
    assert figures["text_latency_ms"]["p50"] > 0
    # a figure whose field the service does not return yet reads "not available"
    service = report["service"]
    assert (figures["parsed_exactly"]["all"] is None) == (not service["understood"])
    assert (figures["pages_with_two_copies"]["after_grouping"] is None) == (
        not service["also_listed"]
    )


def test_the_report_holds_no_generated_query(evaluation, clean_synthetic):
    """Generated queries quote the listings' titles, third-party text: never saved."""
    saved = json.dumps(evaluation.report, ensure_ascii=False)
    assert not any(listing.title in saved for listing in clean_synthetic.listings)


def test_evaluate_queries_errors_are_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MARKETPLACE_HOME", str(tmp_path / "home"))
    assert main(["evaluate", "queries", "--data", str(tmp_path / "nothing")]) == 2
    assert main(["evaluate", "queries", "--data", str(tmp_path), "--titles", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "no cleaned catalogue" in err[0]
    assert "--titles must be at least 1" in err[1]


@pytest.mark.slow
def test_evaluate_queries_end_to_end(
    synthetic_raw_dir, clean_synthetic, trained_bundle_dir, model_workspace, tmp_path, capsys,
    monkeypatch,
):  # fmt: skip
    """The command on a synthetic workspace with a trained model, today's service or later."""
    from multimodal.workspace import Workspace

    monkeypatch.setenv("MARKETPLACE_HOME", str(tmp_path / "home"))
    workspace = Workspace.for_data(synthetic_raw_dir)
    workspace.root.mkdir(parents=True)
    workspace.clean_dir.symlink_to(Path(clean_synthetic.root).resolve())
    workspace.model_dir.symlink_to(trained_bundle_dir.resolve())
    workspace.features_dir.symlink_to(model_workspace.features_dir.resolve())
    reports = tmp_path / "reports"
    args = ["evaluate", "queries", "--data", str(synthetic_raw_dir), "--reports-dir", str(reports)]
    assert main([*args, "--titles", "40", "--intents", "40"]) == 0
    out = capsys.readouterr().out
    assert "category P@10: clean" in out and "text p50" in out and "[target" in out
    report = json.loads((reports / "queries.json").read_text())
    assert report["queries"]["typo_pairs"] == 40
    assert report["model"]["fingerprint"]
