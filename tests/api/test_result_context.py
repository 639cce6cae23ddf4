"""Search results in context: facets over every match, re-posts grouped before paging.

A small catalogue with known counts, served by a real ``SearchService`` over a
store, a BM25 index and vectors from the hashing embedder (no model to load):
33 bike listings (two of them re-posts) among lamps, so "bike" matches exactly
the bikes while a page shows only a few of them. "bike" names the Bikes category
exactly, so these queries leave understanding off: the counts are over the words.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from api.main import create_app
from api.schemas import Filters
from api.service import Query, SearchService
from api.settings import Settings
from indexing.config import IndexConfig
from indexing.index_store import IndexManifest, IndexVersion
from indexing.lexical import LexicalIndex
from indexing.store import Store
from indexing.vector_index import VectorIndex
from multimodal.data.catalogue import Listing
from tests.fixtures.hashing_embedder import HashingEmbedder

LEEDS, CAMDEN, BRISTOL = "Leeds, West Yorkshire", "Camden, London", "Bristol"


def bike(n: int, price: float, location: str, description: str = "", photos=()) -> Listing:
    return Listing(
        f"s{n}",
        "Mountain bike",
        description or f"bike number {n}",
        price,
        location,
        ("Sports", "Cycling"),
        photos,
    )


def catalogue() -> list[Listing]:
    sports = [
        bike(i, 10.0 * i, LEEDS if i % 2 == 0 else CAMDEN, photos=("p2a",) if i == 2 else ())
        for i in range(20)
    ]
    sports += [
        bike(20, 10, CAMDEN, "bike number 1"),  # a re-post of s1: same title and description
        bike(21, 35, CAMDEN, "bike with spare wheels", photos=("p2b",)),  # s2's photo again
        bike(22, 260, LEEDS, "bike in red"),  # the same title only: another ad
    ]
    kids = [
        Listing(f"k{i}", "Kids bike", f"bike size {i}", 15, BRISTOL, ("Kids", "Bikes"))
        for i in range(10)
    ]
    lamps = [
        Listing(f"l{i}", "Brass lamp", f"lamp number {i}", 30, LEEDS, ("Home", "Lighting"))
        for i in range(15)
    ]
    return sports + kids + lamps


def small_service(root: Path, **settings: object) -> SearchService:
    embedder = HashingEmbedder()
    image_dir = root / "images"
    image_dir.mkdir()
    for image_id in ("p2a", "p2b"):  # one photo uploaded twice: the same bytes
        Image.new("RGB", (32, 32), (200, 30, 30)).save(image_dir / f"{image_id}.jpg")
    store = Store(root / "catalogue.sqlite", image_dir)
    store.sync_listings(catalogue())
    records = list(store.iter_records())
    fids = np.array([r.fid for r in records], np.int64)
    vectors = embedder.embed_texts([r.listing.text for r in records])
    listings = VectorIndex.build(fids, vectors, IndexConfig())
    photos = VectorIndex.build([], np.zeros((0, embedder.dim), np.float32), IndexConfig())
    manifest = IndexManifest(
        version=0,
        kind=listings.kind,
        photo_kind=photos.kind,
        dim=embedder.dim,
        count=len(listings),
        photo_count=0,
        model_fingerprint=embedder.fingerprint,
        backbones={},
        built_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        build_seconds=0.0,
        data={},
        changes={},
    )
    lexical = LexicalIndex.build((r.fid, r.listing.title, r.listing.description) for r in records)
    version = IndexVersion(root, manifest, listings, photos, lexical)
    config = Settings(
        data=root, home=root, store_path=root / "catalogue.sqlite", image_dir=image_dir, **settings
    )
    return SearchService(config, embedder, store, version, records=records)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SearchService]:
    # a pool of 10: the dense leg's candidates are bikes, so the matches are the bikes
    service = small_service(tmp_path_factory.mktemp("results"), candidate_pool=10)
    yield service
    service.close()


def counts(values) -> dict[str, int]:
    return {v.value: v.count for v in values}


def test_facets_count_every_match_not_the_page(service: SearchService) -> None:
    response = service.search(
        Query(text="bike", understand=False, k=5, facets=True, group_reposts=False)
    )
    assert len(response.results) == 5
    assert response.total_candidates == 33
    facets = response.facets
    assert counts(facets.categories) == {"Sports": 23, "Kids": 10}
    assert counts(facets.subcategories) == {"Sports / Cycling": 23, "Kids / Bikes": 10}
    assert counts(facets.locations) == {"London": 12, "West Yorkshire": 11, "Bristol": 10}
    bands = {b.label: (b.count, b.min, b.max) for b in facets.price_bands}
    assert bands == {
        "Free": (1, 0, 0),
        "£10 to £25": (13, 10, 24.99),
        "£25 to £50": (3, 25, 49.99),
        "£50 to £100": (5, 50, 99.99),
        "£100 to £250": (10, 100, 249.99),
        "£250 to £500": (1, 250, 499.99),
    }
    assert facets.currency == "GBP"


def test_facets_count_after_filters(service: SearchService) -> None:
    near = service.search(
        Query(
            text="bike",
            understand=False,
            k=5,
            facets=True,
            group_reposts=False,
            filters=Filters(location="london"),
        )
    )
    assert near.total_candidates == 12
    assert counts(near.facets.categories) == {"Sports": 12}
    cheap = service.search(
        Query(
            text="bike",
            understand=False,
            k=5,
            facets=True,
            group_reposts=False,
            filters=Filters(price_max=25),
        )
    )
    assert counts(cheap.facets.categories) == {"Sports": 4, "Kids": 10}
    # a band's bounds narrow to exactly its count
    band = next(b for b in cheap.facets.price_bands if b.label == "£10 to £25")
    narrowed = service.search(
        Query(
            text="bike",
            understand=False,
            k=5,
            group_reposts=False,
            filters=Filters(price_min=band.min, price_max=band.max),
        )
    )
    assert narrowed.total_candidates == band.count == 13


def test_grouped_facets_and_total_count_each_ad_once(service: SearchService) -> None:
    response = service.search(Query(text="bike", understand=False, k=5, facets=True))
    assert response.total_candidates == 31  # s20 re-posts s1; s21 shares s2's photo
    assert counts(response.facets.categories) == {"Sports": 21, "Kids": 10}
    # a group counts under each value one of its copies has: what that filter would find
    assert counts(response.facets.locations) == {"London": 11, "West Yorkshire": 11, "Bristol": 10}
    london = service.search(
        Query(text="bike", understand=False, k=5, filters=Filters(location="London"))
    )
    assert london.total_candidates == 11


def test_facets_only_when_asked(service: SearchService) -> None:
    assert service.search(Query(text="bike", understand=False, k=5)).facets is None


def test_a_photo_query_counts_its_candidate_pool(service: SearchService) -> None:
    response = service.search(
        Query(image=Image.new("RGB", (64, 64), (200, 30, 30)), k=5, facets=True)
    )
    total = sum(c.count for c in response.facets.categories)
    assert response.total_candidates == total <= 10 + 2  # the pool, in groups


@pytest.fixture(scope="module")
def deep(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SearchService]:
    """A pool deeper than the catalogue: every page ranks the same candidates."""
    service = small_service(tmp_path_factory.mktemp("results-deep"), candidate_pool=100)
    yield service
    service.close()


def test_grouping_happens_before_paging(deep: SearchService) -> None:
    whole = deep.search(Query(text="mountain bike", understand=False, k=100))
    assert whole.total_candidates == len(whole.results) == 46  # 48 listings, 2 re-posts
    pages = [
        deep.search(Query(text="mountain bike", understand=False, k=7, offset=o))
        for o in range(0, 46, 7)
    ]
    paged = [r.id for page in pages for r in page.results]
    assert paged == [r.id for r in whole.results]  # page 2 continues page 1
    groups = [frozenset([r.id, *r.also_listed]) for page in pages for r in page.results]
    assert len(set().union(*groups)) == 48  # every copy is on a page, or one click away
    assert {g for g in groups if len(g) > 1} == {frozenset({"s1", "s20"}), frozenset({"s2", "s21"})}
    assert "s22" not in {i for g in groups if len(g) > 1 for i in g}  # same title only


def test_the_opt_out_lists_every_copy(deep: SearchService) -> None:
    every = deep.search(Query(text="mountain bike", understand=False, k=100, group_reposts=False))
    assert every.total_candidates == len(every.results) == 48
    assert all(r.also_listed == [] for r in every.results)


def test_also_listed_obeys_the_filters(deep: SearchService) -> None:
    response = deep.search(Query(text="bike number 1", k=100, filters=Filters(price_max=30)))
    first = next(r for r in response.results if r.id in {"s1", "s20"})
    assert first.also_listed == [({"s1", "s20"} - {first.id}).pop()]
    near = deep.search(Query(text="spare wheels", k=100, filters=Filters(location="leeds")))
    s2 = next(r for r in near.results if r.id == "s2")
    assert s2.also_listed == []  # its copy s21 is in Camden


def test_price_context_in_results_and_the_listing(deep: SearchService) -> None:
    response = deep.search(Query(text="kids bike", k=100))
    kid = next(r for r in response.results if r.id == "k0")
    assert kid.price_context is not None
    assert kid.price_context.neighbours == 9  # the other kids' bikes
    assert (kid.price_context.median, kid.price_context.text) == (
        15.0,
        "about the same as similar listings",
    )
    with TestClient(create_app(deep.settings, deep)) as client:
        listing = client.get("/listings/k0").json()
        assert listing["price_context"] == kid.price_context.model_dump()
        body = client.post("/search", json={"text": "bike", "facets": True}).json()
        assert body["facets"]["categories"] and "also_listed" in body["results"][0]
