"""A second synthetic catalogue, in the generic format, unlike the first in every way that matters.

``multimodal.data.synthetic`` imitates the scraped Gumtree layout: six
roots, two-level categories, pounds, fixed column names. This one is what
another marketplace might export, so nothing downstream can lean on the
first one's shape: four roots of very uneven size, a four-level category
tree, euros written the continental way (``"1.234,00 €"``, ``"€25"``, bare
numbers), its own column names (read with ``--map``), photos in
sub-folders, and two rows of each per-row problem (a missing title, a
missing id, an unreadable photo, a bad price, a duplicate id, a missing
category) at row numbers it returns, so a test can check the report names
them. Photos are drawn like the first catalogue's (one object per listing,
moved a little between its photos), so a photo query can find its listing.
The same seed writes the same bytes.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from multimodal.data.generic import PHOTO_SEPARATOR
from multimodal.data.synthetic import make_look, random_uuid, render_photo

# field → this catalogue's column: every name differs from the format's own.
COLUMNS = {
    "id": "sku",
    "title": "headline",
    "description": "body",
    "price": "cost",
    "currency": "ccy",
    "location": "town",
    "category": "taxonomy",
    "photos": "images",
}
CURRENCY = "EUR"
PHOTOS_DIR = "photos"
PROBLEMS_PER_KIND = 2


@dataclass(frozen=True)
class _Root:
    name: str
    weight: float  # share of the listings: the classes are deliberately uneven
    tree: tuple[tuple[str, tuple[tuple[str, tuple[str, str]], ...]], ...]  # level 2 → 3 → 4
    nouns: tuple[str, ...]
    phrases: tuple[str, ...]
    shape: str
    hue: float
    price: tuple[int, int]


ROOTS: tuple[_Root, ...] = (
    _Root(
        "Elektronik",
        0.5,
        (
            ("Computer", (("Notebooks", ("Gaming", "Business")), ("Zubehör", ("Tasten", "Mäuse")))),
            (
                "Audio",
                (("Lautsprecher", ("Bluetooth", "Regal")), ("Kopfhörer", ("In-Ear", "Bügel"))),
            ),
        ),
        ("laptop", "monitor", "keyboard", "headphones", "speaker", "tablet", "camera", "router"),
        ("Battery holds a full day.", "Factory reset done.", "Original charger included."),
        "screen",
        0.58,
        (20, 2500),
    ),
    _Root(
        "Haus & Möbel",
        0.27,
        (
            ("Wohnen", (("Sofas", ("Zweisitzer", "Ecksofas")), ("Tische", ("Esstische", "Couch")))),
            ("Garten", (("Möbel", ("Stühle", "Bänke")), ("Deko", ("Töpfe", "Lichter")))),
        ),
        ("sofa", "dining table", "armchair", "bookshelf", "garden bench", "flower pot", "lamp"),
        ("Solid oak, no marks.", "Pet free home.", "Self collection from the ground floor."),
        "table",
        0.08,
        (5, 1800),
    ),
    _Root(
        "Mode & Schuhe",
        0.15,
        (
            ("Damen", (("Jacken", ("Winter", "Leder")), ("Schuhe", ("Stiefel", "Sneaker")))),
            ("Herren", (("Hemden", ("Business", "Freizeit")), ("Schuhe", ("Halbschuhe", "Sport")))),
        ),
        ("winter coat", "leather jacket", "boots", "sneakers", "shirt", "dress", "scarf"),
        ("Worn twice.", "True to size.", "Dry cleaned."),
        "shirt",
        0.97,
        (3, 300),
    ),
    _Root(
        "Freizeit & Sport",
        0.08,
        (
            ("Radsport", (("Fahrräder", ("Rennrad", "Trekking")), ("Teile", ("Sättel", "Reifen")))),
            ("Ballsport", (("Fußball", ("Bälle", "Tore")), ("Tennis", ("Schläger", "Netze")))),
        ),
        ("road bike", "football", "tennis racket", "saddle", "goal net", "helmet"),
        ("Serviced last spring.", "Hardly used.", "Tyres like new."),
        "ball",
        0.33,
        (5, 1500),
    ),
)
_ADJECTIVES = ("mint", "used", "nearly new", "retro", "red", "silver", "compact", "heavy duty")
_TOWNS = ("Köln", "Berlin", "München", "Leipzig", "Hamburg", "Graz", "Wien", "Lyon", "Gent")


@dataclass(frozen=True)
class GenericSynthetic:
    """What was written, and what importing it should report."""

    path: Path  # the catalogue file
    rows: int
    mapping: dict[str, str]  # field → column, for ``--map``
    currency: str  # the default to import it with
    problems: dict[str, tuple[str, ...]]  # reason → the row numbers that carry it


def _euro(rng: random.Random, value: int) -> str:
    """A price the way a European catalogue writes it."""
    style = rng.random()
    if style < 0.45:
        text = f"{value:,.2f}".replace(",", " ").replace(".", ",").replace(" ", ".")
        return f"{text} €"
    if style < 0.8:
        return f"€{value}"
    return str(value)  # a bare number: the import's default currency applies


def _listing(rng: random.Random, root: _Root, sku: str) -> tuple[dict, list]:
    """One row (category as a path list) and its photos (relative name, image)."""
    l2 = rng.randrange(2)
    l3 = rng.randrange(2)
    l4 = rng.randrange(2)
    level2, thirds = root.tree[l2]
    level3, leaves = thirds[l3]
    title = f"{rng.choice(_ADJECTIVES)} {rng.choice(root.nouns)}".capitalize()
    body = " ".join([f"{title}.", *rng.sample(root.phrases, 2)])
    low, high = root.price
    look = make_look(rng, root.shape, root.hue, 2 * l2 + l3)
    folder = f"{PHOTOS_DIR}/{root.name.split()[0].lower()}/{sku[:2]}"
    photos = [
        (f"{folder}/{sku}-{k}.jpg", render_photo(look, rng))
        for k in range(rng.choice((1, 2, 2, 3)))
    ]
    row = {
        "sku": sku,
        "headline": title,
        "body": body,
        "cost": _euro(rng, rng.randint(low, high)),
        "ccy": CURRENCY if rng.random() < 0.3 else None,
        "town": rng.choice(_TOWNS),
        "taxonomy": [root.name, level2, level3, leaves[l4]],
        "images": [name for name, _ in photos],
    }
    return row, photos


def _add_problems(rows: list[dict], rng: random.Random, base: Path) -> dict[str, list[int]]:
    """Two rows of each per-row problem, on distinct rows; reason → 0-based indices."""
    picks = rng.sample(range(8, len(rows)), 6 * PROBLEMS_PER_KIND)
    kinds = ("missing title", "missing id", "duplicate id", "bad price", "missing category")
    at = {kind: picks[i * 2 : i * 2 + 2] for i, kind in enumerate(kinds)}
    at["unreadable photo"] = picks[10:12]
    for i in at["missing title"]:
        rows[i]["headline"] = "" if i % 2 else None
    for i in at["missing id"]:
        rows[i]["sku"] = ""
    for n, i in enumerate(at["duplicate id"]):
        rows[i]["sku"] = rows[n]["sku"]  # an early, ordinary row's id
    for i, text in zip(at["bad price"], ("auf Anfrage", "12,34,56"), strict=True):
        rows[i]["cost"] = text
    for i in at["missing category"]:
        rows[i]["taxonomy"] = []
    corrupt, missing = (rows[i]["images"][0] for i in at["unreadable photo"])
    (base / corrupt).write_bytes(b"\xff\xd8\xff\xe0 not a photo")
    (base / missing).unlink()
    return at


def _write(rows: list[dict], path: Path, fmt: str) -> None:
    if fmt == "jsonl":
        with path.open("w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps({k: v for k, v in row.items() if v is not None}) + "\n")
        return
    frame = pd.DataFrame(rows)
    if fmt == "csv":
        frame["taxonomy"] = frame["taxonomy"].map(" / ".join)
        frame["images"] = frame["images"].map(PHOTO_SEPARATOR.join)
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)


def generate_generic_catalogue(
    out_dir: Path, n_listings: int = 240, seed: int = 0, fmt: str = "jsonl"
) -> GenericSynthetic:
    """Write ``catalogue.<fmt>`` and ``photos/…`` into ``out_dir``."""
    if n_listings < 40:
        raise ValueError("a generic synthetic catalogue needs at least 40 listings")
    if fmt not in ("jsonl", "csv", "parquet"):
        raise ValueError(f"unknown format {fmt!r}: use jsonl, csv or parquet")
    rng = random.Random(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    for i in range(n_listings):
        root = ROOTS[i] if i < len(ROOTS) else rng.choices(ROOTS, [r.weight for r in ROOTS])[0]
        sku = random_uuid(rng).replace("-", "")[:12].upper()
        row, photos = _listing(rng, root, sku)
        for name, image in photos:
            (out_dir / name).parent.mkdir(parents=True, exist_ok=True)
            image.save(out_dir / name, format="JPEG", quality=90)
        rows.append(row)
    at = _add_problems(rows, rng, out_dir)
    path = out_dir / f"catalogue.{fmt}"
    _write(rows, path, fmt)
    return GenericSynthetic(
        path=path,
        rows=n_listings,
        mapping=dict(COLUMNS),
        currency=CURRENCY,
        problems={kind: tuple(str(i + 1) for i in sorted(idx)) for kind, idx in at.items()},
    )
