from pathlib import Path

import numpy as np

from indexing.lexical import LexicalIndex, match_expression

DOCS = [
    (1, "Red mountain bike", "Aluminium frame, 21 gears"),
    (2, "Kids bike", "Small red bicycle with stabilisers"),
    (3, "Oak dining table", "Seats six, some scratches"),
    (4, "Sofa", "Three seater, grey fabric, like new"),
]


def test_bm25_ranks_title_matches_first() -> None:
    index = LexicalIndex.build(DOCS)
    scores, fids = index.search("red bike", 10)
    assert list(fids[:2]) == [1, 2]
    assert 3 not in fids
    assert np.all(np.diff(scores) <= 0)


def test_stemming_and_case() -> None:
    index = LexicalIndex.build(DOCS)
    assert list(index.search("TABLES", 5)[1]) == [3]


def test_query_syntax_is_never_interpreted() -> None:
    index = LexicalIndex.build(DOCS)
    for text in ['sofa" OR "', "NEAR(sofa)", "sofa*", "-", "title:sofa", "AND", "'"]:
        index.search(text, 5)  # no FTS5 syntax error
    assert match_expression("  !!  ") is None
    assert len(index.search("!!", 5)[1]) == 0


def test_upsert_delete_and_filter() -> None:
    index = LexicalIndex.build(DOCS)
    index.upsert(4, "Leather sofa", "Brown")
    assert list(index.search("grey", 5)[1]) == []
    assert list(index.search("leather", 5)[1]) == [4]
    index.delete([1])
    assert 1 not in index.search("bike", 5)[1]
    assert list(index.search("red bike", 5, allowed=np.array([3, 4]))[1]) == []
    assert list(index.search("bike", 5, allowed=np.array([2]))[1]) == [2]
    assert len(index) == 3


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    index = LexicalIndex.build(DOCS)
    index.save(tmp_path)
    loaded = LexicalIndex.load(tmp_path)
    assert list(loaded.search("bike", 5)[1]) == list(index.search("bike", 5)[1])
    loaded.upsert(9, "Bike pump", "")
    assert 9 not in LexicalIndex.load(tmp_path).search("pump", 5)[1]  # saved file untouched
