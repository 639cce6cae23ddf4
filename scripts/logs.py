"""Progress lines of the ``multimodal`` and ``indexing`` packages on stderr."""

from __future__ import annotations

import logging
import sys


def show_progress_log() -> None:
    """INFO lines of our own packages (the device picked, epochs), bare, on stderr.

    Our loggers only: a root-level INFO would also print faiss's loader chatter.
    """
    for name in ("multimodal", "indexing"):
        log = logging.getLogger(name)
        log.setLevel(logging.INFO)
        if not log.handlers:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("%(message)s"))
            log.addHandler(handler)
