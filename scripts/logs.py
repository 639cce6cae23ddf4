"""Progress lines of the ``multimodal`` package on stderr."""

from __future__ import annotations

import logging
import sys


def show_progress_log() -> None:
    """INFO lines of ``multimodal`` (the device picked, the backbone, epochs), bare, on
    stderr. Our logger only: a root-level INFO would also print faiss's loader chatter."""
    log = logging.getLogger("multimodal")
    log.setLevel(logging.INFO)
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
