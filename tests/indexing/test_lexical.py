from pathlib import Path

import numpy as np
import pytest

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


def test_title_coverage_counts_the_query_words_a_title_holds() -> None:
    index = LexicalIndex.build([*DOCS, (5, "Kids bikes", "")])
    coverage = index.title_coverage("red bikes", [1, 2, 3, 5, 99])
    # stemmed as BM25 stems; a description's words do not count; unknown ids score 0
    assert coverage == {1: 1.0, 2: 0.5, 3: 0.0, 5: 0.5, 99: 0.0}
    assert index.title_coverage("!!", [1]) == {}
    # query syntax stays literal: three words, of which the title holds "sofa"
    assert index.title_coverage('sofa" OR "title', [4]) == {4: pytest.approx(1 / 3)}


def test_title_coverage_of_many_candidates() -> None:
    docs = [(fid, "vintage lamp" if fid % 2 else "lamp", "") for fid in range(1, 1201)]
    coverage = LexicalIndex.build(docs).title_coverage("vintage lamp", range(1, 1201))
    assert len(coverage) == 1200
    assert all(share == (1.0 if fid % 2 else 0.5) for fid, share in coverage.items())
