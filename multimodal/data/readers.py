"""Choosing the reader for a catalogue: the Gumtree folder, or a generic file.

``marketplace data clean`` and ``data import`` both come here, so a folder
with ``Products.csv`` is read as the scraped layout and a ``.jsonl``,
``.csv`` or ``.parquet`` file as the generic format, without being told.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from multimodal.data.generic import FORMATS, read_generic
from multimodal.data.raw import check_data_dir, is_gumtree_dir, read_gumtree
from multimodal.data.rows import RawCatalogue, RawDataError


def read_catalogue(source: Path, mapping: Mapping[str, str] | None = None) -> RawCatalogue:
    """Read ``source`` with the reader its shape calls for; ``mapping`` is for generic files."""
    if source.is_file() or source.suffix.lower() in FORMATS:
        return read_generic(source, mapping)  # says so if the file is not there
    if mapping:
        raise RawDataError(f"--map applies to a catalogue file, and {source} is not one")
    if not is_gumtree_dir(source):
        check_data_dir(source)  # says what is missing, in one sentence
    return read_gumtree(source)
