"""The generic catalogue format: each file type, the column map, and every per-row problem."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from multimodal.data.catalogue import UNCATEGORISED, Listing, load_clean_catalogue
from multimodal.data.cleaning import clean_catalogue
from multimodal.data.generic import parse_mapping, read_generic
from multimodal.data.rows import RawDataError


def _photo(path: Path, colour: tuple[int, int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (40, 30), colour).save(path)


ROWS = [
    {
        "id": "a1",
        "title": "Oak dining table",
        "description": "Seats six.",
        "price": "£120.00",
        "location": "Leeds",
        "category": ["Home", "Furniture", "Tables"],
        "photos": ["photos/a1.jpg", "photos/sub/a1-back.jpg"],
    },
    {
        "id": "b2",
        "title": "Road bike",
        "description": "",
        "price": "1.234,00 €",
        "location": "Köln",
        "category": ["Sport", "Bikes"],
        "photos": ["photos/b2.jpg"],
    },
    {
        "id": "c3",
        "title": "Old novels",
        "description": "A box of them.",
        "price": 5,
        "currency": "usd",
        "location": "",
        "category": ["Books"],
        "photos": [],
    },
]


def _write(rows: list[dict], path: Path, columns: dict[str, str] | None = None) -> Path:
    """``rows`` as ``path`` (its suffix picks the format), columns renamed by ``columns``."""
    rename = columns or {}
    renamed = [{rename.get(k, k): v for k, v in row.items()} for row in rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in renamed))
        return path
    frame = pd.DataFrame(renamed)
    if path.suffix == ".csv":
        for field in ("category", "photos"):
            column = rename.get(field, field)
            sep = " / " if field == "category" else "|"
            frame[column] = frame[column].map(sep.join)
        frame.to_csv(path, index=False)
    else:  # a Parquet column holds one type: prices as text here
        frame["price"] = frame["price"].astype(str)
        frame.to_parquet(path, index=False)
    return path


@pytest.fixture
def catalogue_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "shop"
    _photo(folder / "photos/a1.jpg", (200, 0, 0))
    _photo(folder / "photos/sub/a1-back.jpg", (150, 0, 0))
    _photo(folder / "photos/b2.jpg", (0, 0, 200))
    return folder


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_each_format_cleans_to_the_same_listings(catalogue_dir, tmp_path, suffix):
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
    path = _write(ROWS, catalogue_dir / f"catalogue{suffix}")
    report = clean_catalogue(path, tmp_path / "clean", image_size=16, progress=False)
    assert (report.format, report.products, report.images) == (suffix[1:], 3, 3)
    assert not report.dropped_products and not report.bad_images and not report.row_problems
    listings = load_clean_catalogue(tmp_path / "clean").by_id()
    a1, b2, c3 = listings["a1"], listings["b2"], listings["c3"]
    assert a1.category_path == ("Home", "Furniture", "Tables") and len(a1.image_ids) == 2
    assert (a1.price, a1.currency) == (120.0, "GBP")
    assert (b2.price, b2.currency, b2.location) == (1234.0, "EUR", "Köln")
    assert (c3.price, c3.currency, c3.image_ids) == (5.0, "USD", ())
    with Image.open(load_clean_catalogue(tmp_path / "clean").image_path(b2.image_ids[0])) as img:
        assert img.size == (16, 16) and img.mode == "RGB"


def test_parquet_numbers_and_nulls(tmp_path):
    pytest.importorskip("pyarrow")
    frame = pd.DataFrame(
        {
            "id": [101, 102],
            "title": ["Kettle", "Toaster"],
            "price": [12.5, float("nan")],
            "category": [["Kitchen", "Small"], []],
        }
    )
    frame.to_parquet(tmp_path / "shop.parquet", index=False)
    report = clean_catalogue(tmp_path / "shop.parquet", tmp_path / "clean", progress=False)
    listings = load_clean_catalogue(tmp_path / "clean").by_id()
    assert listings["101"].price == 12.5 and listings["101"].category_path == ("Kitchen", "Small")
    assert listings["102"].price is None and listings["102"].category_path == (UNCATEGORISED,)
    assert report.row_problems_by_reason == {"missing price": 1, "missing category": 1}


def test_image_ids_are_stable_across_formats_and_runs(catalogue_dir, tmp_path):
    jsonl = _write(ROWS, catalogue_dir / "catalogue.jsonl")
    csv = _write(ROWS, catalogue_dir / "catalogue.csv")
    clean_catalogue(jsonl, tmp_path / "a", image_size=16, progress=False)
    clean_catalogue(csv, tmp_path / "b", image_size=16, progress=False)
    again = clean_catalogue(jsonl, tmp_path / "a", image_size=16, progress=False)
    assert again.images_reused == 3
    ids = [
        {listing.id: listing.image_ids for listing in load_clean_catalogue(tmp_path / d).listings}
        for d in ("a", "b")
    ]
    assert ids[0] == ids[1]


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_column_map_reads_other_names(catalogue_dir, tmp_path, suffix):
    columns = {"id": "sku", "title": "headline", "price": "cost", "category": "taxonomy"}
    columns |= {"photos": "images", "description": "body", "location": "town"}
    path = _write(ROWS, catalogue_dir / f"shop{suffix}", columns)
    with pytest.raises(RawDataError, match="not a catalogue: no id or title column"):
        clean_catalogue(path, tmp_path / "clean", progress=False)
    pairs = [f"{field}={column}" for field, column in columns.items()]
    report = clean_catalogue(
        path, tmp_path / "clean", image_size=16, progress=False, mapping=parse_mapping(pairs)
    )
    assert (report.products, report.images) == (3, 3)
    assert load_clean_catalogue(tmp_path / "clean").by_id()["b2"].location == "Köln"


def test_bad_column_maps_are_refused(catalogue_dir):
    path = _write(ROWS, catalogue_dir / "catalogue.jsonl")
    with pytest.raises(RawDataError, match="expected FIELD=COLUMN"):
        parse_mapping(["title"])
    with pytest.raises(RawDataError, match="unknown field 'colour'"):
        parse_mapping(["colour=hue"])
    with pytest.raises(RawDataError, match="twice"):
        parse_mapping(["title=a", "title=b"])
    with pytest.raises(RawDataError, match="no column 'headline' \\(mapped to title\\)"):
        read_generic(path, {"title": "headline"})


def test_every_per_row_problem_is_reported_with_its_row(catalogue_dir, tmp_path):
    base = {"description": "", "location": "", "category": ["Home"], "price": "€5"}
    rows = [
        {**base, "id": "ok", "title": "Fine", "photos": ["photos/a1.jpg"]},
        {**base, "id": "", "title": "No id", "photos": ["photos/b2.jpg"]},
        {**base, "id": "t", "title": "  "},
        {**base, "id": "ok", "title": "Same id again"},
        {**base, "id": "p", "title": "Bad price", "price": "call me"},
        {**base, "id": "c", "title": "No category", "category": []},
        {
            **base,
            "id": "ph",
            "title": "Bad photos",
            "photos": ["photos/none.jpg", "photos/bad.jpg"],
        },
        {**base, "id": "cur", "title": "Odd currency", "currency": "euros"},
        {**base, "id": "mix", "title": "Mixed", "currency": "GBP"},
        {**base, "id": "dup", "title": "Same photo twice", "photos": ["photos/b2.jpg"] * 2},
    ]
    path = _write(rows, catalogue_dir / "catalogue.jsonl")
    with path.open("a") as fh:
        fh.write("{not json\n")
    (catalogue_dir / "photos/bad.jpg").write_bytes(b"\xff\xd8 garbage")

    report = clean_catalogue(path, tmp_path / "clean", image_size=16, progress=False)

    assert {(p["row"], p["reason"].split(":")[0]) for p in report.dropped_products} == {
        ("2", "missing id"),
        ("3", "missing title"),
        ("4", "duplicate id"),
        ("11", "not JSON"),
    }
    assert {(p["row"], p["reason"]) for p in report.row_problems} == {
        ("5", "bad price"),
        ("6", "missing category"),
        ("8", "bad currency"),
        ("9", "bad price"),  # "€5" in a row whose currency is GBP
    }
    assert {(b["row"], b["photo"], b["reason"].split(":")[0]) for b in report.bad_images} == {
        ("7", "photos/none.jpg", "missing file"),
        ("7", "photos/bad.jpg", "unreadable"),
    }
    assert {(p["row"], p["reason"]) for p in report.dropped_image_rows} == {
        ("2", "listing dropped"),
        ("10", "duplicate photo"),
    }
    assert report.products_raw == 11 and report.products == 7
    assert report.products + len(report.dropped_products) == report.products_raw
    assert (
        report.images + len(report.bad_images) + len(report.dropped_image_rows) == report.images_raw
    )
    listings = load_clean_catalogue(tmp_path / "clean").by_id()
    assert listings["ok"].title == "Fine" and listings["p"].price is None
    assert listings["c"].category_path == (UNCATEGORISED,)
    assert listings["ph"].image_ids == () and len(listings["dup"].image_ids) == 1
    assert (listings["cur"].price, listings["cur"].currency) == (5.0, "EUR")
    assert (listings["mix"].price, listings["mix"].currency) == (None, "GBP")
    saved = json.loads((tmp_path / "clean/report.json").read_text())
    assert saved["row_problems_by_reason"] == {
        "bad price": 2,
        "missing category": 1,
        "bad currency": 1,
    }
    assert any(line.startswith("row 7: photo 'photos/bad.jpg'") for line in report.problem_lines())


def test_default_currency_and_absolute_photo_paths(catalogue_dir, tmp_path, monkeypatch):
    absolute = str((catalogue_dir / "photos/b2.jpg").resolve())
    rows = [{"id": "x", "title": "Lamp", "price": "25", "category": "A / B", "photos": absolute}]
    path = _write(rows, catalogue_dir / "catalogue.jsonl")
    monkeypatch.chdir(tmp_path)  # photo paths must not depend on the working folder
    report = clean_catalogue(path, tmp_path / "c", image_size=16, progress=False, currency="eur")
    listing = load_clean_catalogue(tmp_path / "c").listings[0]
    assert (listing.price, listing.currency, report.images) == (25.0, "EUR", 1)
    assert listing.category_path == ("A", "B")
    with pytest.raises(RawDataError, match="not a three-letter ISO code"):
        clean_catalogue(path, tmp_path / "c", currency="euro")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.jsonl", b"", "is empty"),
        ("blank.jsonl", b"\n\n", "is empty"),
        ("header.csv", b"id,title\n", "is empty"),
        ("latin1.csv", "id,title\n1,Caf\xe9\n".encode("latin-1"), "is not UTF-8"),
        ("latin1.jsonl", '{"id": "1", "title": "Caf\xe9"}\n'.encode("latin-1"), "is not UTF-8"),
        ("people.csv", b"name,age\nAnn,3\n", "not a catalogue: no id or title"),
        ("numbers.jsonl", b"1\n2\n", "not JSON Lines"),
        ("catalogue.xlsx", b"PK", "unknown catalogue format"),
        ("broken.parquet", b"PAR1 not really", "not a readable Parquet file"),
    ],
)
def test_files_that_are_no_catalogue_are_refused(tmp_path, name, content, message):
    if name.endswith(".parquet"):
        pytest.importorskip("pyarrow")
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(RawDataError, match=message):
        read_generic(path)


def test_old_workspaces_without_a_currency_still_load():
    row = {"id": "1", "title": "t", "price": 3.0, "category_path": ["A"], "image_ids": []}
    assert Listing.from_dict(row).currency == "GBP"


def test_csv_with_bare_carriage_returns_and_crlf_row_ends(tmp_path):
    path = tmp_path / "shop.csv"
    path.write_bytes(
        b"id,title,description,price\r\n"
        b"1,Kettle,Boils.\rFast.,\xe2\x82\xac4\r\n"  # bare \r, unquoted, as pandas writes it
        b'2,Toaster,"Two\r\nslots",5\r\n'
    )
    raw = read_generic(path)
    assert [(r.row, r.id, r.description, r.price) for r in raw.rows] == [
        ("1", "1", "Boils.\rFast.", "€4"),
        ("2", "2", "Two\r\nslots", "5"),
    ]
    clean_catalogue(path, tmp_path / "clean", progress=False)
    listings = load_clean_catalogue(tmp_path / "clean").by_id()
    assert listings["1"].description == "Boils.\nFast." and listings["1"].currency == "EUR"
    assert listings["2"].description == "Two\nslots" and listings["2"].root == UNCATEGORISED
