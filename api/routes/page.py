"""The search page: ``GET /`` and its static files, plus the filter choices it offers.

The page is plain HTML, CSS and JavaScript served by the API itself (no CDN,
no build step), so it works offline and always matches the API it talks to.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from api.deps import ServiceDep, SettingsDep
from api.security import user_token
from api.store_outage import store_required

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"
# The browser revalidates (ETag) on every load, so a redeploy is never half-cached.
NO_STALE = {"Cache-Control": "no-cache"}
# Deeper category levels make the drop-down unreadably long; the filter still
# takes any path prefix through the API.
MAX_CATEGORY_DEPTH = 2
MAX_LOCATIONS = 300

router = APIRouter()
router.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")


class CategoryFacet(BaseModel):
    path: str
    name: str
    depth: int
    count: int


class Facets(BaseModel):
    categories: list[CategoryFacet]
    locations: list[str]
    currency: str  # ISO code the price filter compares in: the catalogue's main currency


class DemoUser(BaseModel):
    id: str
    token: str | None  # None when the server has no user token secret (events disabled)


class DemoUsers(BaseModel):
    users: list[DemoUser]


@router.get("/", include_in_schema=False)
def index() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers=NO_STALE)


@router.get("/facets", response_model=Facets, tags=["page"])
def facets(service: ServiceDep) -> Facets:
    """The filter choices: categories two levels deep with live counts, the areas, the currency.

    An area is the last part of a location ("Leeds, West Yorkshire" gives
    "West Yorkshire"), which the case-insensitive location filter matches.
    """
    with store_required():  # the category tree is read from the store: 503 while it is away
        categories = [
            CategoryFacet(path=c.path, name=c.name, depth=c.depth, count=c.count)
            for c in service.store.categories()
            if c.depth <= MAX_CATEGORY_DEPTH and c.count > 0
        ]
        areas = Counter(
            listing.location.rsplit(",", 1)[-1].strip() for listing in service.store.iter_listings()
        )
        currency = service.store.main_currency()
    areas.pop("", None)
    common = sorted(area for area, _ in areas.most_common(MAX_LOCATIONS))
    return Facets(categories=categories, locations=common, currency=currency)


@router.get("/page/users", response_model=DemoUsers, tags=["page"])
def demo_users(settings: SettingsDep) -> DemoUsers:
    """The personas the page can browse as (``MARKETPLACE_DEMO_USERS``), with their tokens.

    Event writes need the user's token; handing it out here is what lets a
    visitor act as a demo persona, which is why only configured personas get one.
    """
    secret = settings.user_token_secret
    has_secret = secret is not None and bool(secret.get_secret_value())
    return DemoUsers(
        users=[
            DemoUser(id=user, token=user_token(secret, user) if has_secret else None)
            for user in settings.demo_users
        ]
    )
