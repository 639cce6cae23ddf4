"""Micro-batching of text-query embeddings: concurrent queries share one forward pass.

Under load many requests wait for the model at once. Embedding them one by one
costs a full MiniLM forward each; embedding the queue as one padded batch
costs little more than a single one, so throughput rises with concurrency
instead of flattening. There is no linger: a lone query is embedded at once,
a batch forms only from requests that were already waiting.

``submit`` hands back the future at once, so the caller can do the query's
other work (its keyword search) while the model runs: the forward pass
releases the GIL, and on two cores the two overlap.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future

import numpy as np

EmbedBatch = Callable[[Sequence[str]], np.ndarray]


class TextBatcher:
    """One worker thread embeds whatever text queries are queued, up to ``max_batch``."""

    def __init__(self, embed: EmbedBatch, lock: threading.Lock, max_batch: int = 32) -> None:
        self._embed = embed
        self._lock = lock  # the model lock: photo queries use the same model
        self._max_batch = max_batch
        self._pending: list[tuple[str, Future]] = []
        self._ready = threading.Condition()
        self._closed = False
        self._worker = threading.Thread(target=self._run, name="text-batcher", daemon=True)
        self._worker.start()

    def embed(self, text: str) -> np.ndarray:
        return self.submit(text).result()

    def submit(self, text: str) -> Future:
        """Queue ``text``; the future's result is its vector."""
        future: Future = Future()
        with self._ready:
            if self._closed:
                raise RuntimeError("the text batcher is closed")
            self._pending.append((text, future))
            self._ready.notify()
        return future

    def close(self) -> None:
        with self._ready:
            self._closed = True
            self._ready.notify()
        self._worker.join(timeout=10)

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._pending and not self._closed:
                    self._ready.wait()
                if self._closed and not self._pending:
                    return
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
            texts = [text for text, _ in batch]
            try:
                with self._lock:
                    vectors = self._embed(texts)
            except Exception as exc:  # every waiter gets the failure, the worker lives on
                for _, future in batch:
                    future.set_exception(exc)
                continue
            for (_, future), vector in zip(batch, vectors, strict=True):
                future.set_result(np.asarray(vector, dtype=np.float32))
