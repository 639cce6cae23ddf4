"""A small hand-written catalogue for the query-understanding tests: words, places, categories."""

from __future__ import annotations

from multimodal.data.catalogue import Listing

ROWS = [
    ("Mountain bike 26 inch", "Sports, Leisure & Travel / Bicycles", "Croydon, London", 120.0),
    ("Mountain bike helmet", "Sports, Leisure & Travel / Bicycles", "Leeds, West Yorkshire", 15.0),
    ("Kids mountain bike", "Sports, Leisure & Travel / Bicycles", "Glasgow", 40.0),
    ("Road bike", "Sports, Leisure & Travel / Bicycles", "Bath, Somerset", 300.0),
    ("Grey fabric sofa", "Home & Garden / Sofas", "Hackney, London", 90.0),
    ("Leather sofa bed", "Home & Garden / Sofas", "Glasgow", 150.0),
    ("3 seater sofa", "Home & Garden / Sofas", "Reading, Berkshire", 0.0),
    ("Corner sofa", "Home & Garden / Sofas", "Leeds, West Yorkshire", 60.0),
    ("Oak wardrobe", "Home & Garden / Wardrobes", "Croydon, London", 45.0),
    ("Pine wardrobe", "Home & Garden / Wardrobes", "York, North Yorkshire", 30.0),
    ("Under Armour hoodie", "Clothes / Men's Clothing", "Leeds, West Yorkshire", 12.0),
    ("Under Armour trainers", "Clothes / Men's Shoes", "Glasgow", 25.0),
    ("iPhone 11 64GB", "Phones / Mobile Phones", "Croydon, London", 180.0),
    ("iPhone 11 case", "Phones / Accessories", "Hackney, London", 5.0),
    ("Samsung Galaxy S10", "Phones / Mobile Phones", "Bath, Somerset", 110.0),
    ("PS4 console with games", "Games / Consoles", "Glasgow", 95.0),
    ("Free standing fridge", "Home & Garden / Appliances", "Reading, Berkshire", 70.0),
    ("Sim free phone", "Phones / Mobile Phones", "Leeds, West Yorkshire", 60.0),
    ("Black dress size 10", "Clothes / Women's Clothing", "York, North Yorkshire", 8.0),
    ("Travel bags", "Sports, Leisure & Travel / Bags", "Glasgow", 20.0),
    ("Leather bags", "Clothes / Bags", "Hackney, London", 35.0),
    ("Teak garden table", "Home & Garden / Garden", "Bath, Somerset", 75.0),
]
DESCRIPTIONS = {
    "Teak garden table": "Solid teak, seats six.",
    "Grey fabric sofa": "Comfy sofa, teak legs, from a pet free home.",
}


def listings(currency: str = "GBP") -> list[Listing]:
    return [
        Listing(
            id=f"l{i}",
            title=title,
            description=DESCRIPTIONS.get(title, f"{title}, good condition."),
            price=price,
            location=location,
            category_path=tuple(category.split(" / ")),
            currency=currency,
        )
        for i, (title, category, location, price) in enumerate(ROWS)
    ]
