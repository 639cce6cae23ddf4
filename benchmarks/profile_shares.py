"""Where a server's CPU time went, from py-spy's collapsed stacks: shares per kind of work.

``py-spy record -f raw`` writes one line a distinct stack, ``frame;frame;...;leaf N``
(N samples). Each stack is charged to the first kind of work met walking from its
leaf towards its root, so a numpy call made by the ranking code is charged to
"search logic" and a PIL call made by the request's photo decoding to "photo
decoding". The kinds answer issue 21's question for a loaded server: model
passes, photo decoding, vector search, keyword search, the catalogue store,
HTTP and JSON, our own search logic, or threads waiting on a lock or a queue
(what py-spy still sees of queueing: a waiting thread it does not count as
idle, mostly the threadpool's spare threads and text queries waiting for
their batch).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

# (kind, substrings of a frame's "function (file:line)"); the first kind that matches a
# frame, walking from the leaf, takes the stack.
KINDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("waiting on a lock or queue", ("Condition.wait", "Event.wait", "_acquire_restore",
                                    "Future.result", "Lock.acquire", "(queue.py")),
    ("model passes (ONNX Runtime, torch)", ("onnxruntime/", "torch/")),
    ("photo decoding (PIL, base64)", ("PIL/", "api/image_input.py", "base64.py")),
    ("vector search (FAISS)", ("faiss/",)),
    ("keyword search (SQLite FTS5)", ("indexing/lexical.py",)),
    ("catalogue store (SQLite, PostgreSQL)", ("indexing/store.py", "store_database.py",
                                              "sqlite3", "psycopg")),
    ("HTTP, JSON, validation", ("uvicorn/", "starlette/", "fastapi/", "pydantic",
                                "h11/", "httptools", "json/", "anyio/", "asyncio/")),
    ("search logic (ranking, lexical, facets)", ("api/", "indexing/", "multimodal/")),
)  # fmt: skip
OTHER = "other"


def kind_of(stack: list[str]) -> str:
    for frame in reversed(stack):
        for kind, marks in KINDS:
            if any(mark in frame for mark in marks):
                return kind
    return OTHER


def profile_shares(raws: list[Path]) -> dict[str, float]:
    """Each kind's share of the samples in ``py-spy record -f raw`` files, largest first
    (``{}`` for files with no samples, or none written)."""
    samples: Counter[str] = Counter()
    for raw in raws:
        if not raw.is_file():  # py-spy could not attach (no ptrace permission)
            continue
        for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
            stack, _, count = line.rpartition(" ")
            if stack and count.isdigit():
                samples[kind_of(stack.split(";"))] += int(count)
    total = sum(samples.values())
    return {kind: round(n / total, 3) for kind, n in samples.most_common()} if total else {}
