"""The suggestion benchmark's typed prefixes: drawn from phrases, the last word cut, some typos."""

from __future__ import annotations

import random

from benchmarks.suggest import prefixes_from

PHRASES = ["mountain bike helmet", "grey fabric sofa", "oak dining table", "iphone 11 case"]


def test_prefixes_start_a_phrase_and_cut_its_last_word() -> None:
    typed = prefixes_from(PHRASES, 4, typo_share=0.0, rng=random.Random(0))

    assert len(typed) == 4
    for prefix in typed:
        assert any(phrase.startswith(prefix) for phrase in PHRASES)


def test_a_share_of_prefixes_carry_a_swapped_pair_of_letters() -> None:
    typed = prefixes_from(PHRASES * 50, 200, typo_share=1.0, rng=random.Random(1))

    several = [t for t in typed if " " in t and not t.startswith("oak")]  # "oak": too short
    assert several and all(not any(p.startswith(t) for p in PHRASES) for t in several)
    assert typed == prefixes_from(PHRASES * 50, 200, typo_share=1.0, rng=random.Random(1))
