"""The generic catalogue format: one listing a row, in JSON Lines, CSV or Parquet.

Any marketplace can export this (``docs/catalogue-format.md`` is the
reference). The fields are ``FIELDS``; a catalogue whose columns are named
otherwise maps them with ``field=column`` pairs (``--map`` on the command
line). This module only reads: it turns each row into a ``RawRow`` and leaves
every judgement (drop, repair, report) to cleaning, so the rules are the same
for every format. Whole-file problems (not a catalogue, not UTF-8, empty)
raise ``RawDataError`` with one sentence.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import pandas as pd

from multimodal.data.rows import RawCatalogue, RawDataError, RawPhoto, RawRow, parse_category

FIELDS = ("id", "title", "description", "price", "currency", "location", "category", "photos")
REQUIRED_FIELDS = ("id", "title")
FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet"}
PHOTO_SEPARATOR = "|"  # between photo paths in one CSV cell
# Image ids are derived from (listing id, photo as written): the same catalogue
# always gives the same ids, so a re-import reuses the photos it cleaned before.
_PHOTO_NAMESPACE = uuid.UUID("5b0e7c52-4f4e-4d8e-9a57-0c7b1f3c2d10")


def parse_mapping(pairs: Iterable[str]) -> dict[str, str]:
    """``["title=headline", ...]`` → ``{"title": "headline"}``; a bad pair is refused."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        field, sep, column = pair.partition("=")
        field, column = field.strip(), column.strip()
        if not sep or not field or not column:
            raise RawDataError(f"--map {pair!r}: expected FIELD=COLUMN, e.g. title=headline")
        if field not in FIELDS:
            raise RawDataError(
                f"--map {pair!r}: unknown field {field!r}; fields: {', '.join(FIELDS)}"
            )
        if field in mapping:
            raise RawDataError(f"--map names the field {field!r} twice")
        mapping[field] = column
    return mapping


def catalogue_format(path: Path) -> str:
    """The format a file's name says it is in, or a one-sentence refusal."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(FORMATS))
        raise RawDataError(f"{path}: unknown catalogue format {path.suffix!r} (use {known})")
    return fmt


def _not_utf8(path: Path, exc: UnicodeDecodeError) -> RawDataError:
    return RawDataError(f"{path} is not UTF-8 text (byte {exc.start}: {exc.reason})")


def _jsonl_records(path: Path, unreadable: list[dict[str, str]]) -> list[tuple[str, dict]]:
    """(line number, object) for each line; a line that is no JSON object is reported."""
    records: list[tuple[str, dict]] = []
    try:
        with path.open(encoding="utf-8-sig") as fh:
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    value = json.loads(line)
                except json.JSONDecodeError as exc:
                    value, why = None, f"not JSON: {exc.msg}"
                else:
                    why = "not a JSON object"
                if isinstance(value, dict):
                    records.append((str(number), value))
                else:
                    unreadable.append({"row": str(number), "id": "", "reason": why})
    except UnicodeDecodeError as exc:
        raise _not_utf8(path, exc) from exc
    if not records and unreadable:
        raise RawDataError(f"{path} is not JSON Lines: no line holds a JSON object")
    return records


def _frame_records(frame: pd.DataFrame) -> list[tuple[str, dict]]:
    frame.columns = [str(c).strip() for c in frame.columns]
    return [(str(i), row) for i, row in enumerate(frame.to_dict("records"), start=1)]


def _csv_records(path: Path) -> list[tuple[str, dict]]:
    try:
        # lineterminator="\n": a bare "\r" inside a description is text, not a row end
        # (pandas itself writes such fields unquoted); a "\r\n" row end leaves a "\r"
        # that reading each cell strips.
        frame = pd.read_csv(
            path, dtype=str, keep_default_na=False, encoding="utf-8-sig", lineterminator="\n"
        )
    except UnicodeDecodeError as exc:
        raise _not_utf8(path, exc) from exc
    except pd.errors.EmptyDataError as exc:
        raise RawDataError(f"{path} is empty") from exc
    except pd.errors.ParserError as exc:
        raise RawDataError(f"{path} is not a readable CSV: {str(exc).strip()}") from exc
    return _frame_records(frame)


def _parquet_records(path: Path) -> list[tuple[str, dict]]:
    try:
        import pyarrow  # noqa: F401  (pandas reads Parquet through it)
    except ImportError:
        raise RawDataError(
            "reading Parquet needs the pyarrow package, which is not installed"
        ) from None
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise RawDataError(f"{path} is not a readable Parquet file: {exc}") from exc
    return _frame_records(frame)


def _columns(records: Sequence[tuple[str, dict]], mapping: Mapping[str, str], path: Path):
    """Field → column for every field the file has; refuse a file that is no catalogue."""
    present: dict[str, None] = {}
    for _, record in records:
        present.update(dict.fromkeys(record))
    for field, column in mapping.items():
        if column not in present:
            raise RawDataError(f"{path} has no column {column!r} (mapped to {field})")
    columns = {field: mapping.get(field, field) for field in FIELDS}
    columns = {field: column for field, column in columns.items() if column in present}
    missing = [field for field in REQUIRED_FIELDS if field not in columns]
    if missing:
        shown = ", ".join(list(present)[:8]) or "none"
        raise RawDataError(
            f"{path} is not a catalogue: no {' or '.join(missing)} column "
            f"(columns: {shown}; map yours with --map FIELD=COLUMN)"
        )
    return columns


def _is_missing(value: object) -> bool:
    if value is None:
        return True
    return isinstance(value, float) and math.isnan(value)


def _text(value: object) -> str:
    """A cell as text: ``None``/NaN → "", 12.0 → "12" (an id read as a number)."""
    if _is_missing(value):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _as_list(value: object) -> list | None:
    """JSON lists, and Parquet's list cells (numpy arrays), as Python lists."""
    if isinstance(value, list | tuple):
        return list(value)
    if hasattr(value, "tolist") and getattr(value, "ndim", 0) == 1:
        return list(value.tolist())
    return None


def _category(value: object) -> tuple[str, ...]:
    listed = _as_list(value)
    return parse_category(listed if listed is not None else _text(value))


def _photo_names(value: object) -> list[str]:
    listed = _as_list(value)
    if listed is None:
        listed = _text(value).split(PHOTO_SEPARATOR)
    return [name for name in (_text(item) for item in listed) if name]


def _photos(
    row: str, listing_id: str, value: object, base: Path, dropped: list[dict[str, str]]
) -> tuple[RawPhoto, ...]:
    photos: list[RawPhoto] = []
    seen: set[str] = set()
    for name in _photo_names(value):
        if name in seen:
            dropped.append(
                {"row": row, "id": name, "product_id": listing_id, "reason": "duplicate photo"}
            )
            continue
        seen.add(name)
        image_id = str(uuid.uuid5(_PHOTO_NAMESPACE, f"{listing_id}\x1f{name}"))
        path = Path(name) if Path(name).is_absolute() else base / name
        photos.append(RawPhoto(row=row, image_id=image_id, path=path, name=name))
    return tuple(photos)


def _rows(
    records: Sequence[tuple[str, dict]], columns: Mapping[str, str], base: Path, dropped
) -> Iterator[RawRow]:
    for number, record in records:
        cell = {field: record.get(column) for field, column in columns.items()}
        listing_id = _text(cell.get("id"))
        price = cell.get("price")
        yield RawRow(
            row=number,
            id=listing_id,
            title=" ".join(_text(cell.get("title")).split()),
            description=_text(cell.get("description")),
            price=_text(price) if _is_missing(price) or isinstance(price, str) else price,
            currency=_text(cell.get("currency")),
            location=_text(cell.get("location")),
            category=_category(cell.get("category")),
            photos=_photos(number, listing_id, cell.get("photos"), base, dropped),
        )


def read_generic(path: Path, mapping: Mapping[str, str] | None = None) -> RawCatalogue:
    """Read a generic catalogue file; photo paths are relative to its folder."""
    if not path.is_file():
        raise RawDataError(f"{path} does not exist or is not a file")
    fmt = catalogue_format(path)
    if path.stat().st_size == 0:
        raise RawDataError(f"{path} is empty")
    unreadable: list[dict[str, str]] = []
    if fmt == "jsonl":
        records = _jsonl_records(path, unreadable)
    elif fmt == "csv":
        records = _csv_records(path)
    else:
        records = _parquet_records(path)
    if not records and not unreadable:
        raise RawDataError(f"{path} is empty: it holds no listings")
    columns = _columns(records, mapping or {}, path)
    dropped: list[dict[str, str]] = []
    rows = list(_rows(records, columns, path.parent, dropped))
    return RawCatalogue(
        source=path,
        format=fmt,
        rows=rows,
        rows_raw=len(records) + len(unreadable),
        photos_raw=sum(len(r.photos) for r in rows) + len(dropped),
        unreadable_rows=unreadable,
        dropped_photos=dropped,
    )
