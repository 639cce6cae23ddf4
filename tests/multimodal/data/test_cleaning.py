"""Cleaning the Gumtree layout: its quirks one at a time, then a whole catalogue end to end.

The generic format's reader and problems are in ``test_generic.py``; prices in
``test_prices.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from multimodal.data.catalogue import UNCATEGORISED, load_clean_catalogue
from multimodal.data.cleaning import clean_catalogue, clean_description, pad_to_square
from multimodal.data.raw import RawDataError, clean_title
from multimodal.data.rows import parse_category


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Oak side table | in Reading, Berkshire | Gumtree", "Oak side table"),
        ("Lamp | Brass Desk Lamp | in Salford, Manchester | Gumtree", "Lamp | Brass Desk Lamp"),
        ("CHAIR|PINE||SET| | in East London, London | Gumtree", "CHAIR|PINE||SET|"),
        ("Sofa  with   spaces | in Leeds, West Yorkshire |  Gumtree ", "Sofa with spaces"),
        ("Just a title | Gumtree", "Just a title"),
        ("No tail at all", "No tail at all"),
        ("Price in pounds | in Bath, Somerset | Gumtree", "Price in pounds"),
        (" | in Leeds, West Yorkshire | Gumtree", ""),
    ],
)
def test_clean_title(raw, expected):
    assert clean_title(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Home & Garden / Garden & Patio", ("Home & Garden", "Garden & Patio")),
        (
            "Home & Garden / Dining, Living Room Furniture / Mirrors, Clocks & Ornaments",
            ("Home & Garden", "Dining, Living Room Furniture", "Mirrors, Clocks & Ornaments"),
        ),
        ("Other Goods", ("Other Goods",)),
        ("  Appliances /  Fridges ", ("Appliances", "Fridges")),
        ("Men's / Women's", ("Men's", "Women's")),
        ("AC/DC records / Vinyl", ("AC/DC records", "Vinyl")),
        ("", ()),
        ("   ", ()),
        (["Root", " Sub ", "", "Leaf"], ("Root", "Sub", "Leaf")),
        ([], ()),
        (None, ()),
    ],
)
def test_parse_category(raw, expected):
    assert parse_category(raw) == expected


def test_clean_description_normalises_bare_carriage_returns():
    assert clean_description("  one\rtwo\r\nthree \r") == "one\ntwo\nthree"


def test_pad_to_square_keeps_proportions_and_centres():
    img = Image.new("RGB", (40, 20), (255, 0, 0))
    square = pad_to_square(img)
    assert square.size == (40, 40) and square.mode == "RGB"
    assert square.getpixel((20, 20)) == (255, 0, 0)  # the photo sits in the middle band
    assert square.getpixel((20, 0)) == (0, 0, 0)  # black bars above and below
    assert square.getpixel((20, 39)) == (0, 0, 0)
    bbox = Image.eval(square, lambda v: 255 if v else 0).getbbox()
    assert bbox == (0, 10, 40, 30)  # 2:1 preserved: no stretch


def test_pad_to_square_converts_modes_and_fill():
    tall = pad_to_square(Image.new("L", (10, 30), 200), fill=(1, 2, 3))
    assert tall.mode == "RGB" and tall.size == (30, 30)
    assert tall.getpixel((0, 15)) == (1, 2, 3) and tall.getpixel((15, 15)) == (200, 200, 200)
    clear = pad_to_square(Image.new("RGBA", (8, 8), (255, 255, 255, 0)))
    assert clear.getpixel((4, 4)) == (0, 0, 0)  # transparency lies over the fill


def _write_raw(tmp: Path, products: list[dict], images: list[dict]) -> Path:
    (tmp / "images").mkdir(parents=True)
    pd.DataFrame(products).to_csv(tmp / "Products.csv", lineterminator="\n")
    pd.DataFrame(images, columns=["id", "product_id"]).to_csv(
        tmp / "Images.csv", lineterminator="\n"
    )
    return tmp


def _product(pid: str, title="Lamp | in Leeds, West Yorkshire | Gumtree", **kw) -> dict:
    row = {
        "id": pid,
        "product_name": title,
        "category": "Home & Garden / Lighting",
        "product_description": "A lamp.\rWorks.",
        "price": "£5.00",
        "location": "Leeds, West Yorkshire",
    }
    row.update(kw)
    return row


def test_clean_catalogue_counts_every_dropped_and_repaired_row(tmp_path):
    products = [
        _product("a"),
        _product("a"),  # duplicate id
        _product("", title="Orphan"),  # missing id
        _product("b", title=" | in Leeds, West Yorkshire | Gumtree"),  # no title left
        _product("c", category=""),  # no category: kept, uncategorised
        _product("d", price="ask me", location=""),
        _product("e", price="Free", title="Plain title"),
    ]
    images = [
        {"id": "img-a1", "product_id": "a"},
        {"id": "img-a2", "product_id": "a"},  # corrupt
        {"id": "img-a1", "product_id": "a"},  # duplicate image row
        {"id": "img-x", "product_id": "zzz"},  # unknown product
        {"id": "img-b", "product_id": "b"},  # product dropped
        {"id": "img-d", "product_id": "d"},  # missing file
        {"id": "img-e", "product_id": "e"},  # empty file
    ]
    raw = _write_raw(tmp_path / "raw", products, images)
    Image.new("RGB", (30, 60), (0, 200, 0)).save(raw / "images" / "img-a1.jpg")
    (raw / "images" / "img-a2.jpg").write_bytes(b"garbage")
    (raw / "images" / "img-e.jpg").write_bytes(b"")

    report = clean_catalogue(raw, tmp_path / "clean", image_size=32, progress=False)

    assert report.products_raw == 7 and report.products == 4
    assert report.format == "gumtree"
    assert {(p["row"], p["reason"]) for p in report.dropped_products} == {
        ("1", "duplicate id"),
        ("2", "missing id"),
        ("3", "missing title"),
    }
    assert [(p["row"], p["reason"], p["value"]) for p in report.row_problems] == [
        ("4", "missing category", ""),
        ("5", "bad price", "ask me"),
    ]
    assert report.dropped_image_rows_by_reason == {
        "duplicate image id": 1,
        "unknown product": 1,
        "listing dropped": 1,
    }
    assert {b["image_id"]: (b["row"], b["reason"].split(":")[0]) for b in report.bad_images} == {
        "img-a2": ("1", "unreadable"),
        "img-d": ("5", "missing file"),
        "img-e": ("6", "empty file"),
    }
    assert report.price_unparsed == 1 and report.price_free == 1
    assert report.currencies == {"GBP": 4} and report.uncategorised == 1
    assert report.titles_repaired == 3 and report.titles_without_tail == 1
    assert report.locations_from_title == 1
    assert report.images == 1 and report.products_without_images == 3
    lines = report.problem_lines()
    assert "row 3: missing title (id 'b'): dropped with its 1 photo(s)" in lines
    assert "Images.csv row 3: photo 'img-x' not used: unknown product" in lines
    # every raw row is accounted for
    assert report.products + len(report.dropped_products) == report.products_raw
    assert (
        report.images + len(report.bad_images) + len(report.dropped_image_rows) == report.images_raw
    )

    catalogue = load_clean_catalogue(tmp_path / "clean")
    listings = catalogue.by_id()
    assert listings["a"].image_ids == ("img-a1",)  # kept its good photo
    assert listings["a"].description == "A lamp.\nWorks."
    assert listings["a"].title == "Lamp" and listings["a"].root == "Home & Garden"
    assert listings["d"].price is None and listings["d"].location == "Leeds, West Yorkshire"
    assert listings["e"].price == 0.0 and listings["e"].currency == "GBP"
    assert listings["c"].category_path == (UNCATEGORISED,) and not listings["c"].categorised
    with Image.open(catalogue.image_path("img-a1")) as img:
        assert img.size == (32, 32) and img.mode == "RGB"
    saved = json.loads((tmp_path / "clean" / "report.json").read_text())
    assert saved["bad_images_count"] == 3 and saved["products"] == 4
    assert saved["row_problems_by_reason"] == {"missing category": 1, "bad price": 1}


def test_short_rows_and_crlf_line_ends_are_read(tmp_path):
    raw = tmp_path / "raw"
    (raw / "images").mkdir(parents=True)
    (raw / "Products.csv").write_bytes(
        b",id,product_name,category,product_description,price,location\r\n"
        b'0,p1,"Kettle | in Bath, Somerset | Gumtree",Appliances / Small,Boils.,'
        b"\xc2\xa34.00,Bath\r\n"
        b'1,p2,"Toaster | in Bath, Somerset | Gumtree",Appliances\n'
    )
    (raw / "Images.csv").write_text(",id,product_id\n")
    report = clean_catalogue(raw, tmp_path / "clean", progress=False)
    listings = load_clean_catalogue(tmp_path / "clean").by_id()
    assert report.products == 2 and listings["p1"].location == "Bath"
    assert listings["p1"].price == 4.0 and listings["p2"].price is None


def test_missing_or_invalid_data_dir(tmp_path):
    with pytest.raises(RawDataError, match="does not exist"):
        clean_catalogue(tmp_path / "nowhere", tmp_path / "out", progress=False)
    (tmp_path / "Products.csv").write_text("just,a,header\n")
    (tmp_path / "Images.csv").write_text(",id,product_id\n")
    with pytest.raises(RawDataError, match="lacks column"):
        clean_catalogue(tmp_path, tmp_path / "out", progress=False)


def test_synthetic_catalogue_cleans_with_bad_images_reported(clean_synthetic):
    report = json.loads((clean_synthetic.root / "report.json").read_text())
    reasons = sorted(b["reason"].split(":")[0] for b in report["bad_images"])
    assert reasons == ["missing file", "unreadable"]
    assert report["products"] == len(clean_synthetic.listings) == 300
    assert report["price_unparsed"] >= 1 and report["price_free"] >= 2
    assert report["descriptions_repaired"] > 0
    corrupt = next(b for b in report["bad_images"] if b["reason"] != "missing file")
    bad_product = corrupt["product_id"]
    assert len(clean_synthetic.by_id()[bad_product].image_ids) == 1  # kept its other photo
    for listing in clean_synthetic.listings[:40]:
        assert "Gumtree" not in listing.title and "\r" not in listing.description
        for image_id in listing.image_ids:
            with Image.open(clean_synthetic.image_path(image_id)) as img:
                assert img.size == (64, 64) and img.mode == "RGB"


def test_reclean_reuses_images_and_redoes_stale_ones(synthetic_raw_dir, tmp_path):
    out = tmp_path / "clean"
    first = clean_catalogue(synthetic_raw_dir, out, image_size=32, progress=False)
    assert first.images_reused == 0 and first.images_converted == first.images
    listings_before = (out / "listings.jsonl").read_bytes()
    image_id = load_clean_catalogue(out).listings[0].image_ids[0]
    cleaned = out / "images" / f"{image_id}.jpg"
    os.utime(cleaned, ns=(0, 0))  # older than its source: must be redone

    second = clean_catalogue(synthetic_raw_dir, out, image_size=32, progress=False)
    assert second.images_reused == first.images - 1 and second.images_converted == 1
    assert (out / "listings.jsonl").read_bytes() == listings_before
    assert len(second.bad_images) == len(first.bad_images)

    third = clean_catalogue(synthetic_raw_dir, out, image_size=48, progress=False)
    assert third.images_reused == 0  # another size: nothing reusable
    with Image.open(cleaned) as img:
        assert img.size == (48, 48)


def test_already_square_jpegs_are_copied_byte_for_byte(tmp_path):
    raw = _write_raw(tmp_path / "raw", [_product("a")], [{"id": "img", "product_id": "a"}])
    Image.new("RGB", (16, 16), (9, 9, 9)).save(raw / "images" / "img.jpg", quality=75)
    report = clean_catalogue(raw, tmp_path / "clean", image_size=16, progress=False)
    assert report.images_copied == 1
    assert (tmp_path / "clean/images/img.jpg").read_bytes() == (raw / "images/img.jpg").read_bytes()
