"""Request and response models: the API contract external clients depend on.

Field names and ranges here are fixed by the contract (``POST /search`` and
friends); changing one is a breaking change for every client.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_K = 100  # the most results one page may ask for
ISO_CURRENCY = re.compile(r"^[A-Z]{3}$")

EventType = Literal["view", "click", "save", "message"]


class Filters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    price_min: float | None = Field(None, ge=0)
    price_max: float | None = Field(None, ge=0)
    category: str | None = Field(
        None, max_length=200, description="Root category or a 'Root / Sub' path prefix."
    )
    location: str | None = Field(
        None, max_length=200, description="Case-insensitive substring of the location."
    )

    @model_validator(mode="after")
    def _price_range(self) -> Filters:
        if (
            self.price_min is not None
            and self.price_max is not None
            and self.price_min > self.price_max
        ):
            raise ValueError("price_min must not exceed price_max")
        return self

    @property
    def active(self) -> bool:
        return any(v not in (None, "") for v in self.model_dump().values())


# Query understanding (``api.understanding``): what the words of a query were read as.
ParsedKind = Literal["price", "place", "category"]
Reading = Literal["price", "place", "category", "spelling"]


class ParsedFilter(BaseModel):
    """One filter taken from the query's words: what a chip on the page shows."""

    kind: ParsedKind
    words: str = Field(description="The words of the query it came from, e.g. 'under £100'.")
    label: str = Field(description="How to show it: 'under £100', 'in London', 'Bicycles'.")


class SpellingFix(BaseModel):
    typed: str
    corrected: str


class Understood(BaseModel):
    """What the service read in the query's words (``understand: true``)."""

    text: str = Field(description="The text that was searched, filter words taken out.")
    filters: Filters = Field(
        description="Only the filters taken from the words (an explicit filter wins over one)."
    )
    category_mode: Literal["filter", "boost"] | None = Field(
        description="A category named in the words: a filter when the match is certain, "
        "else a boost of its listings; null when none is named."
    )
    parsed: list[ParsedFilter] = Field(description="The filters applied, each with its words.")
    corrections: list[SpellingFix] = Field(description="Words corrected against the catalogue.")


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(None, description="Free-text query.")
    image: str | None = Field(None, description="A photo, base64-encoded (JPEG/PNG/WebP).")
    k: int = Field(20, ge=1, le=MAX_K)
    offset: int = Field(0, ge=0)
    filters: Filters = Field(default_factory=Filters)
    user_id: str | None = Field(None, min_length=1, max_length=128)
    personalise: bool = True
    understand: bool = Field(
        True, description="Read price, place and category words as filters and fix typos."
    )
    ignore_parsed: list[Reading] = Field(
        default_factory=list,
        max_length=4,
        description="Readings to leave out, their words searched as typed: a removed chip "
        "('price', 'place', 'category'), or 'spelling' to search the words as typed.",
    )
    facets: bool = Field(
        False,
        description="Count categories, sub-categories, price bands and areas over every "
        "match of the query (after filters), in the response's `facets`.",
    )
    group_reposts: bool = Field(
        True,
        description="Show each re-posted ad once (identical photo, or the same title and "
        "description), its other copies in `also_listed`; false: every copy on its own.",
    )


class PriceContext(BaseModel):
    """How a price compares with the nearest listings of its root category."""

    median: float = Field(description="Median price of the nearest similar listings.")
    difference: float = Field(description="This price minus that median.")
    neighbours: int = Field(description="How many similar listings the median is over.")
    currency: str = Field(description="ISO 4217 code of the prices compared.")
    text: str = Field(description='For people, e.g. "about £40 below similar listings".')


class SearchResult(BaseModel):
    id: str = Field(description="The listing id (the Products.csv id).")
    title: str
    price: float | None
    currency: str = Field(description="ISO 4217 code of the price, e.g. GBP or EUR.")
    category: str
    location: str
    image_url: str | None = Field(description="The listing's first photo, or null.")
    score: float = Field(
        description="Fused relevance: 1.0 for the best match, plus any personal tilt."
    )
    reasons: list[str] = Field(
        description="Why it ranked: text match, keyword match, photo match, similar photo, "
        "your interest in <category>."
    )
    also_listed: list[str] = Field(
        default_factory=list,
        description="Ids of the other copies of this re-posted ad that pass the filters "
        "(empty when none, or when `group_reposts` is false).",
    )
    price_context: PriceContext | None = Field(
        None, description="The price against similar listings; null where too few compare."
    )


class FacetValue(BaseModel):
    value: str = Field(description="A category path, or an area (a filter value as it is).")
    count: int


class PriceBand(BaseModel):
    label: str
    min: float = Field(description="The price filter's `price_min` for this band.")
    max: float | None = Field(description="Its `price_max` (null: no upper bound).")
    count: int


class SearchFacets(BaseModel):
    """Counts over all the query's matches after filters (groups, when grouped)."""

    categories: list[FacetValue]
    subcategories: list[FacetValue]
    locations: list[FacetValue]
    price_bands: list[PriceBand]
    currency: str = Field(description="ISO 4217 code the price bands are in.")


# Whether a search was personalised: "off" (no user, ``personalise: false``, or a query
# naming a category, whose clear intent the profile stays out of), "applied" (the user's
# profile was there to rank by; it tilts only an ambiguous query), "unavailable" (the
# profile was not cached and the database could not be read: the plain order).
Personalisation = Literal["off", "applied", "unavailable"]


class SearchResponse(BaseModel):
    """A page of results.

    Changed in issue 23: re-posted ads are grouped by default (one result per ad,
    the others in `also_listed`; `group_reposts: false` for every copy), and
    `total_candidates` counts the query's matches, not the ranked pool.
    """

    results: list[SearchResult]
    total_candidates: int = Field(
        description="The query's matches after filters: every listing holding one of its "
        "keywords (BM25) plus its nearest listings by meaning or photo; re-posted ads count "
        "once when grouped (the default since issue 23)."
    )
    took_ms: float = Field(description="Time spent in the search service.")
    model_version: str = Field(description="Fingerprint of the model that embedded the query.")
    facets: SearchFacets | None = Field(None, description="When the request asked for facets.")
    understood: Understood | None = Field(
        None, description="What the words were read as (null when `understand` is false)."
    )
    did_you_mean: str | None = Field(
        None, description="The corrected query that was searched, when spelling changed it."
    )
    personalisation: Personalisation = Field(
        "off",
        description="'applied': the user's profile ranked this page (it tilts only an "
        "ambiguous query); 'unavailable': it could not be read (the catalogue database is "
        "unreachable and the profile was not cached), so the order is unpersonalised; "
        "'off': no user, `personalise: false`, or a query naming a category.",
    )


class Suggestion(BaseModel):
    text: str
    kind: Literal["title", "category"]


class SuggestResponse(BaseModel):
    suggestions: list[Suggestion]


class ListingIn(BaseModel):
    """A listing as the admin or a seller writes it: new photos come in ``photos``
    (or as multipart files); ``image_ids`` keeps photos already stored."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=500)
    description: str = Field("", max_length=20_000)
    price: float | None = Field(None, ge=0)
    currency: str | None = Field(
        None,
        max_length=3,
        description="ISO 4217 code of the price (e.g. EUR); the catalogue's own when omitted.",
    )
    location: str = Field("", max_length=200)
    category: str = Field(min_length=1, max_length=300, description="'Root / Sub / ...'")
    image_ids: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="Photos already stored to keep (a seller: only this listing's own).",
    )
    photos: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="New photos, base64-encoded (JPEG/PNG/WebP/GIF/BMP), cleaned and stored.",
    )

    @field_validator("currency")
    @classmethod
    def _iso_code(cls, value: str | None) -> str | None:
        if value is None:
            return None
        code = value.strip().upper()
        if not ISO_CURRENCY.match(code):
            raise ValueError("currency must be a three-letter ISO 4217 code such as EUR")
        return code


class ListingCreate(ListingIn):
    id: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="Listing id; generated when omitted.",
    )


class ListingOut(BaseModel):
    id: str
    title: str
    description: str
    price: float | None
    currency: str
    location: str
    category: str
    image_ids: list[str]
    image_urls: list[str]
    price_context: PriceContext | None = None


class SimilarResponse(BaseModel):
    listing_id: str
    results: list[SearchResult]
    took_ms: float
    model_version: str


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    listing_id: str = Field(min_length=1, max_length=64)
    type: EventType


class EventOut(BaseModel):
    user_id: str
    listing_id: str
    type: EventType
    ts: float


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str | None = None
    image: str | None = Field(None, description="A photo, base64-encoded.")


class PredictResponse(BaseModel):
    category: str
    probabilities: dict[str, float]


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    model_version: str | None = None
    listings: int | None = None
    # The channels the loaded index version serves (its manifest names them):
    # listings, lexical, and texts / photos / instances when it has them.
    channels: list[str] | None = None
    # "trained", or "frozen": the first index's pretrained encoders, text only
    model: str | None = None
    detail: str | None = None
