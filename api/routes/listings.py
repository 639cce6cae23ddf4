"""Listings: read, similar items, and admin-only create / update / delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from api.deps import AdminDep, ServiceDep
from api.schemas import ListingCreate, ListingIn, ListingOut, SimilarResponse

router = APIRouter(prefix="/listings", tags=["listings"])

ListingId = Annotated[str, Path(min_length=1, max_length=64)]


@router.get("/{listing_id}", response_model=ListingOut)
def get_listing(listing_id: ListingId, service: ServiceDep) -> ListingOut:
    return service.get_listing(listing_id)


@router.get("/{listing_id}/similar", response_model=SimilarResponse)
def similar_listings(
    listing_id: ListingId, service: ServiceDep, k: Annotated[int, Query(ge=1, le=100)] = 10
) -> SimilarResponse:
    """Listings nearest to this one in the joint space, itself excluded."""
    return service.similar(listing_id, k)


@router.post(
    "", response_model=ListingOut, status_code=status.HTTP_201_CREATED, dependencies=[AdminDep]
)
def create_listing(body: ListingCreate, service: ServiceDep) -> ListingOut:
    """Add a listing; it is searchable as soon as this returns."""
    return service.create_listing(body)


@router.put("/{listing_id}", response_model=ListingOut, dependencies=[AdminDep])
def update_listing(listing_id: ListingId, body: ListingIn, service: ServiceDep) -> ListingOut:
    return service.update_listing(listing_id, body)


@router.delete("/{listing_id}", status_code=status.HTTP_204_NO_CONTENT, dependencies=[AdminDep])
def delete_listing(listing_id: ListingId, service: ServiceDep) -> Response:
    service.delete_listing(listing_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
