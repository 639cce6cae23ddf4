"""A small synthetic marketplace in the exact raw format of the real one.

The fast tests, CI and a machine without the real dataset all run on this, so
it reproduces the raw quirks cleaning must survive (site tails on titles,
bare ``\\r`` in descriptions, messy prices, a corrupt and a missing photo,
duplicate ads, listings without photos) and carries enough signal to train
on: each root category has its own vocabulary and its own shape and colours,
with some overlap so the task is learnable but not trivial, and the two
photos of one listing show the same object moved a little, so "other photo →
same listing" can be learnt. Everything is drawn from one ``random.Random``
seeded by ``seed``: the same seed writes the same bytes.
"""

from __future__ import annotations

import colorsys
import math
import random
import uuid
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from PIL import Image, ImageDraw

from multimodal.data.raw import IMAGES_FILE, PRODUCTS_FILE, RAW_IMAGES_DIR


@dataclass(frozen=True)
class _Root:
    name: str
    subs: tuple[str, ...]
    nouns: tuple[str, ...]
    phrases: tuple[str, ...]
    shape: str
    hue: float  # centre of the root's colour family, 0..1
    price: tuple[int, int]


# Shared nouns ("keyboard", "case", "bag", "speaker", "stand") appear in two
# roots on purpose: a title alone is then not always enough.
ROOTS: tuple[_Root, ...] = (
    _Root(
        "Home & Garden",
        (
            "Garden & Patio",
            "Dining, Living Room Furniture / Sofas, Armchairs & Suites",
            "Other Household Goods",
        ),
        ("sofa", "coffee table", "lamp", "mirror", "dining chairs", "rug", "planter", "stand"),
        (
            "Perfect for the garden or patio.",
            "Solid wood, no scratches.",
            "Fits any living room.",
            "Matching cushions included.",
        ),
        "table",
        0.08,
        (5, 600),
    ),
    _Root(
        "Computers & Software",
        ("Laptops", "Monitors & Projectors", "Computer Accessories"),
        (
            "laptop",
            "monitor",
            "keyboard",
            "wireless mouse",
            "printer",
            "graphics card",
            "speaker",
            "ssd drive",
        ),
        (
            "Fast processor and plenty of memory.",
            "Windows installed and activated.",
            "Full HD screen, no dead pixels.",
            "Charger included.",
        ),
        "screen",
        0.58,
        (10, 1500),
    ),
    _Root(
        "Phones, Mobile Phones & Telecoms",
        ("Mobile Phones", "Mobile Phone Accessories", "Home Phones & Answering Machines"),
        ("iphone", "samsung galaxy", "phone case", "charger", "smart watch", "sim free phone"),
        (
            "Unlocked to all networks.",
            "Battery health is great.",
            "Screen protector fitted from day one.",
            "Comes with original box.",
        ),
        "phone",
        0.75,
        (5, 900),
    ),
    _Root(
        "Clothes, Footwear & Accessories",
        ("Women's Clothing", "Men's Shoes", "Bags & Handbags"),
        ("jacket", "trainers", "dress", "handbag", "leather boots", "jeans", "scarf", "bag"),
        (
            "Worn once, like new.",
            "Size 10, true to size.",
            "Genuine leather.",
            "From a smoke free home, freshly washed.",
        ),
        "shirt",
        0.97,
        (3, 250),
    ),
    _Root(
        "Sports, Leisure & Travel",
        ("Bicycles", "Fitness & Gym Equipment", "Camping & Hiking"),
        (
            "mountain bike",
            "football",
            "tennis racket",
            "dumbbells",
            "tent",
            "golf clubs",
            "suitcase",
            "bag",
        ),
        (
            "Great for training at home.",
            "Tyres recently replaced.",
            "Used on one camping trip only.",
            "Ideal for beginners.",
        ),
        "ball",
        0.33,
        (5, 800),
    ),
    _Root(
        "Music, Films, Books & Games",
        ("Music & Instruments", "Books, Comics & Magazines", "Films & TV"),
        (
            "acoustic guitar",
            "vinyl records",
            "dvd box set",
            "novel",
            "board game",
            "keyboard",
            "speaker",
            "stand",
        ),
        (
            "All discs play perfectly.",
            "Complete with every piece.",
            "A classic, read once.",
            "Strings replaced last month.",
        ),
        "disc",
        0.16,
        (2, 400),
    ),
)

_ADJECTIVES = (
    "brand new",
    "used",
    "vintage",
    "black",
    "white",
    "large",
    "small",
    "grey",
    "boxed",
    "excellent condition",
)
_GENERIC = (
    "Collection only.",
    "Cash on collection.",
    "No offers please.",
    "Can deliver locally for a small fee.",
    "Message me for more photos.",
    "Selling as no longer needed.",
    "Quick sale wanted.",
)
_PLACES = (
    "Leeds, West Yorkshire",
    "Croydon, London",
    "Bristol, Somerset",
    "Bath, Somerset",
    "Reading, Berkshire",
    "Inverness, Highland",
    "Cardiff, South Glamorgan",
    "Norwich, Norfolk",
    "Salford, Manchester",
    "Exeter, Devon",
    "York, North Yorkshire",
    "Lincoln, Lincolnshire",
)
_CANVASES = ((256, 256), (256, 256), (256, 256), (320, 240), (240, 320), (300, 300))


def random_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _colour(hue: float, sat: float, val: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(hue % 1.0, sat, val)
    return round(r * 255), round(g * 255), round(b * 255)


@dataclass(frozen=True)
class Look:
    """What makes one listing's object recognisable across its photos."""

    shape: str
    sub: int
    colour: tuple[int, int, int]
    accent: tuple[int, int, int]
    aspect: float
    size: float  # fraction of the canvas
    spots: tuple[tuple[float, float, tuple[int, int, int]], ...]  # object-relative


def make_look(rng: random.Random, shape: str, hue: float, sub: int) -> Look:
    """A new object of ``shape`` in the colour family ``hue``, marked with ``sub + 1`` bars."""
    hue = hue + rng.uniform(-0.05, 0.05)
    return Look(
        shape=shape,
        sub=sub,
        colour=_colour(hue, rng.uniform(0.5, 0.95), rng.uniform(0.45, 0.95)),
        accent=_colour(hue + 0.5, rng.uniform(0.3, 0.9), rng.uniform(0.3, 0.9)),
        aspect=rng.uniform(0.75, 1.3),
        size=rng.uniform(0.45, 0.7),
        spots=tuple(
            (
                rng.uniform(-0.3, 0.3),
                rng.uniform(-0.3, 0.3),
                _colour(rng.random(), rng.uniform(0.2, 1), rng.uniform(0.2, 1)),
            )
            for _ in range(3)
        ),
    )


def _outline(shape: str) -> list[tuple[float, float]]:
    """The shape as a polygon in a unit box centred on 0 (x right, y down)."""
    if shape in ("ball", "disc"):
        return [
            (0.5 * math.cos(a), 0.5 * math.sin(a))
            for a in (2 * math.pi * k / 36 for k in range(36))
        ]
    if shape == "table":
        return [
            (-0.5, -0.2),
            (0.5, -0.2),
            (0.5, -0.05),
            (0.4, -0.05),
            (0.4, 0.4),
            (0.3, 0.4),
            (0.3, -0.05),
            (-0.3, -0.05),
            (-0.3, 0.4),
            (-0.4, 0.4),
            (-0.4, -0.05),
            (-0.5, -0.05),
        ]
    if shape == "screen":
        return [
            (-0.5, -0.35),
            (0.5, -0.35),
            (0.5, 0.25),
            (0.08, 0.25),
            (0.08, 0.4),
            (0.2, 0.45),
            (-0.2, 0.45),
            (-0.08, 0.4),
            (-0.08, 0.25),
            (-0.5, 0.25),
        ]
    if shape == "phone":
        return [
            (-0.25, -0.5),
            (0.25, -0.5),
            (0.3, -0.45),
            (0.3, 0.45),
            (0.25, 0.5),
            (-0.25, 0.5),
            (-0.3, 0.45),
            (-0.3, -0.45),
        ]
    if shape == "shirt":
        return [
            (-0.2, -0.45),
            (-0.05, -0.38),
            (0.05, -0.38),
            (0.2, -0.45),
            (0.5, -0.2),
            (0.38, -0.05),
            (0.28, -0.15),
            (0.28, 0.5),
            (-0.28, 0.5),
            (-0.28, -0.15),
            (-0.38, -0.05),
            (-0.5, -0.2),
        ]
    raise ValueError(f"unknown shape {shape}")


def _inner(shape: str) -> list[tuple[float, float]] | None:
    """A second, darker part drawn inside the outline (screen glass, record label...)."""
    if shape == "screen":
        return [(-0.44, -0.3), (0.44, -0.3), (0.44, 0.2), (-0.44, 0.2)]
    if shape == "phone":
        return [(-0.25, -0.4), (0.25, -0.4), (0.25, 0.38), (-0.25, 0.38)]
    if shape == "disc":
        return [
            (0.15 * math.cos(a), 0.15 * math.sin(a))
            for a in (2 * math.pi * k / 24 for k in range(24))
        ]
    if shape == "ball":
        return [(-0.5, -0.04), (0.5, -0.04), (0.5, 0.04), (-0.5, 0.04)]
    return None


def render_photo(look: Look, rng: random.Random) -> Image.Image:
    """One photo of the object; each call moves, scales and turns it a little."""
    width, height = rng.choice(_CANVASES)
    background = _colour(rng.random(), rng.uniform(0.0, 0.25), rng.uniform(0.75, 1.0))
    img = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(img)
    side = min(width, height)
    scale = side * look.size * rng.uniform(0.88, 1.12)
    cx = width / 2 + rng.uniform(-0.08, 0.08) * side
    cy = height / 2 + rng.uniform(-0.08, 0.08) * side
    angle = math.radians(rng.uniform(-8, 8))
    cos, sin = math.cos(angle), math.sin(angle)

    def place(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        out = []
        for x, y in points:
            x, y = x * scale * look.aspect, y * scale
            out.append((cx + x * cos - y * sin, cy + x * sin + y * cos))
        return out

    draw.polygon(place(_outline(look.shape)), fill=look.colour)
    inner = _inner(look.shape)
    if inner:
        dark = tuple(c // 3 for c in look.colour)
        draw.polygon(place(inner), fill=dark)
    # The subcategory mark: 1..3 accent bars along the top of the object.
    for k in range(look.sub + 1):
        x0 = -0.3 + 0.2 * k
        draw.polygon(
            place([(x0, -0.15), (x0 + 0.12, -0.15), (x0 + 0.12, -0.08), (x0, -0.08)]),
            fill=look.accent,
        )
    for sx, sy, colour in look.spots:
        ((px, py),) = place([(sx, sy)])
        r = scale * 0.05
        draw.ellipse((px - r, py - r, px + r, py + r), fill=colour)
    if (width, height) == (256, 256) and rng.random() < 0.3:
        # Letterbox like the real data: a wide photo on a black square.
        bar = rng.randint(20, 50)
        draw.rectangle((0, 0, width, bar), fill=(0, 0, 0))
        draw.rectangle((0, height - bar, width, height), fill=(0, 0, 0))
    return img


def _price(rng: random.Random, root: _Root) -> str:
    roll = rng.random()
    if roll < 0.03:
        return "£0.00"
    if roll < 0.045:
        return rng.choice(("Free", "free"))
    if roll < 0.06:
        return rng.choice(("POA", "ask", "£", "twenty quid"))
    low, high = root.price
    value = rng.randint(low, high)
    if rng.random() < 0.1:
        value *= 10
    return f"£{value:,.2f}"


def _title(rng: random.Random, root: _Root) -> str:
    # One title in ten borrows a noun from another root: text is not a give-away.
    pool = rng.choice(ROOTS).nouns if rng.random() < 0.1 else root.nouns
    title = f"{rng.choice(_ADJECTIVES)} {rng.choice(pool)}".capitalize()
    if rng.random() < 0.3:
        title += f" {rng.choice(('for sale', 'must go', 'bargain', 'job lot', 'ono'))}"
    if rng.random() < 0.06:
        title += f" | {rng.choice(('Free delivery', 'Grey', 'Like new'))}"
    return title


def _description(rng: random.Random, root: _Root, title: str) -> str:
    sentences = [f"{title}."]
    sentences += rng.sample(root.phrases, rng.randint(1, 2))
    if rng.random() < 0.25:
        sentences.append(rng.choice(rng.choice(ROOTS).phrases))
    sentences += rng.sample(_GENERIC, rng.randint(1, 2))
    rng.shuffle(sentences)
    return ("\r" if rng.random() < 0.2 else " ").join(sentences)


def generate_catalogue(out_dir: Path, n_listings: int = 300, seed: int = 0) -> Path:
    """Write ``Products.csv``, ``Images.csv`` and ``images/`` into ``out_dir``.

    One photo (of a two-photo listing) is written corrupt and one listed photo
    is never written, so every cleaning run meets both.
    """
    if n_listings < 10:
        raise ValueError("a synthetic catalogue needs at least 10 listings")
    rng = random.Random(seed)
    image_dir = out_dir / RAW_IMAGES_DIR
    image_dir.mkdir(parents=True, exist_ok=True)
    products: list[dict[str, str]] = []
    image_rows: list[dict[str, str]] = []
    looks: list[Look] = []
    titles: list[str] = []
    for i in range(n_listings):
        root = ROOTS[i % len(ROOTS)] if i < len(ROOTS) else rng.choice(ROOTS)
        duplicate_of = None
        if i >= 20 and rng.random() < 0.06:
            candidates = [j for j, p in enumerate(products) if p["category"].startswith(root.name)]
            duplicate_of = rng.choice(candidates) if candidates else None
        place = rng.choice(_PLACES)
        if duplicate_of is None:
            sub = rng.randrange(len(root.subs))
            title = _title(rng, root)
            description = _description(rng, root, title)
            look = make_look(rng, root.shape, root.hue, sub)
            category = f"{root.name} / {root.subs[sub]}"
        else:  # the same ad posted again: same text and object, another id and town
            original = products[duplicate_of]
            title = titles[duplicate_of]
            description, category = original["product_description"], original["category"]
            look = looks[duplicate_of]
        products.append(
            {
                "id": random_uuid(rng),
                "product_name": f"{title} | in {place} | Gumtree",
                "category": category,
                "product_description": description,
                "price": _price(rng, root),
                "location": place,
            }
        )
        looks.append(look)
        titles.append(title)
        roll = rng.random()
        n_photos = 0 if roll < 0.05 else 1 if roll < 0.25 else 2
        for _ in range(n_photos):
            image_id = random_uuid(rng)
            image_rows.append({"id": image_id, "product_id": products[-1]["id"]})
            img = render_photo(look, rng)
            if rng.random() < 0.03:
                img = img.convert("L")  # the odd greyscale upload
            img.save(image_dir / f"{image_id}.jpg", format="JPEG", quality=90)

    # Guaranteed oddities, so small catalogues meet them too.
    products[1]["price"], products[2]["price"], products[3]["price"] = "Free", "£0.00", "n/a"
    products[4]["price"] = "£1,234.00"
    counts: dict[str, int] = {}
    for row in image_rows:
        counts[row["product_id"]] = counts.get(row["product_id"], 0) + 1
    pair = next(r for r in image_rows if counts[r["product_id"]] == 2)
    (image_dir / f"{pair['id']}.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    missing = next(r["id"] for r in reversed(image_rows) if r["product_id"] != pair["product_id"])
    (image_dir / f"{missing}.jpg").unlink()

    pd.DataFrame(products).to_csv(out_dir / PRODUCTS_FILE, lineterminator="\n")
    pd.DataFrame(image_rows).to_csv(out_dir / IMAGES_FILE, lineterminator="\n")
    return out_dir
