"""Concurrent text queries share forward passes and still get their own vectors."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from api.batching import TextBatcher


def test_concurrent_queries_are_batched_and_answered_in_order() -> None:
    calls: list[int] = []
    gate = threading.Event()

    def embed(texts):
        gate.wait(5)  # hold the first pass so the others queue up behind it
        calls.append(len(texts))
        return np.array([[float(len(t))] for t in texts])

    batcher = TextBatcher(embed, threading.Lock(), max_batch=8)
    texts = ["a" * n for n in range(1, 11)]
    with ThreadPoolExecutor(10) as pool:
        futures = [pool.submit(batcher.embed, t) for t in texts]
        threading.Timer(0.2, gate.set).start()
        results = [f.result(timeout=10) for f in futures]
    batcher.close()
    assert [r[0] for r in results] == [float(len(t)) for t in texts]
    assert sum(calls) == 10
    assert len(calls) < 10  # at least some queries shared a pass
    assert max(calls) <= 8


def test_a_failing_pass_fails_its_callers_only() -> None:
    def embed(texts):
        if "boom" in texts:
            raise ValueError("boom")
        return np.ones((len(texts), 2))

    batcher = TextBatcher(embed, threading.Lock())
    with pytest.raises(ValueError):
        batcher.embed("boom")
    assert batcher.embed("fine").tolist() == [1.0, 1.0]
    batcher.close()
