"""Torch datasets over a cleaned catalogue: photos, texts, and whole listings.

All three take the catalogue, the listing ids of one split (from
``multimodal.data.splits``) and the ``LabelEncoder``, and yield dicts so a
``DataLoader`` batches them by key. Photos load lazily from the cleaned image
folder; ``train=True`` switches the augmentation on.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import torch
from PIL import Image
from torch.utils.data import Dataset

from multimodal.data.catalogue import CleanCatalogue, Listing
from multimodal.data.labels import LabelEncoder
from multimodal.data.transforms import ImageTransform, Normalise, eval_transform, train_transform


def _select(catalogue: CleanCatalogue, listing_ids: Sequence[str]) -> list[Listing]:
    by_id = catalogue.by_id()
    unknown = [i for i in listing_ids if i not in by_id]
    if unknown:
        raise ValueError(
            f"{len(unknown)} listing id(s) not in the catalogue at {catalogue.root} "
            f"(first: {unknown[0]}): is the split from another dataset?"
        )
    return [by_id[i] for i in listing_ids]


def _transform(image_size: int, normalise: Normalise, train: bool) -> ImageTransform:
    return (train_transform if train else eval_transform)(image_size, normalise)


def load_image(catalogue: CleanCatalogue, image_id: str) -> Image.Image:
    with Image.open(catalogue.image_path(image_id)) as img:
        return img.convert("RGB")


class ImageDataset(Dataset):
    """One item per photo: ``image`` tensor, ``label`` index, ``listing_id``, ``image_id``.

    Listings without photos contribute nothing.
    """

    def __init__(
        self,
        catalogue: CleanCatalogue,
        listing_ids: Sequence[str],
        labels: LabelEncoder,
        *,
        image_size: int,
        normalise: Normalise,
        train: bool,
    ) -> None:
        self.catalogue = catalogue
        self.items = [
            (image_id, listing.id, labels.encode(listing.root))
            for listing in _select(catalogue, listing_ids)
            for image_id in listing.image_ids
        ]
        self.transform = _transform(image_size, normalise, train)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        image_id, listing_id, label = self.items[index]
        image = self.transform(load_image(self.catalogue, image_id))
        return {"image": image, "label": label, "listing_id": listing_id, "image_id": image_id}


class TextDataset(Dataset):
    """One item per listing: its ``text`` (title + description), ``label``, ``listing_id``."""

    def __init__(
        self, catalogue: CleanCatalogue, listing_ids: Sequence[str], labels: LabelEncoder
    ) -> None:
        self.items = [
            (listing.text, listing.id, labels.encode(listing.root))
            for listing in _select(catalogue, listing_ids)
        ]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        text, listing_id, label = self.items[index]
        return {"text": text, "label": label, "listing_id": listing_id}


class ListingDataset(Dataset):
    """One item per listing: ``text``, up to ``max_images`` photos and a mask, ``label``.

    ``images`` is always ``[max_images, 3, size, size]`` (zeros where a listing
    has fewer photos) and ``image_mask`` marks the real ones, so listings with
    0, 1 or 2 photos batch together. In training a listing with more photos
    than ``max_images`` shows a random subset each epoch; in evaluation, the
    first ones.
    """

    def __init__(
        self,
        catalogue: CleanCatalogue,
        listing_ids: Sequence[str],
        labels: LabelEncoder,
        *,
        image_size: int,
        normalise: Normalise,
        train: bool,
        max_images: int = 2,
    ) -> None:
        if max_images < 1:
            raise ValueError("max_images must be at least 1")
        self.catalogue = catalogue
        self.listings = _select(catalogue, listing_ids)
        self.labels = [labels.encode(listing.root) for listing in self.listings]
        self.transform = _transform(image_size, normalise, train)
        self.train = train
        self.image_size = image_size
        self.max_images = max_images

    def __len__(self) -> int:
        return len(self.listings)

    def __getitem__(self, index: int) -> dict:
        listing = self.listings[index]
        image_ids = list(listing.image_ids)
        if len(image_ids) > self.max_images:
            image_ids = (
                random.sample(image_ids, self.max_images)
                if self.train
                else image_ids[: self.max_images]
            )
        size = self.image_size
        images = torch.zeros(self.max_images, 3, size, size)
        mask = torch.zeros(self.max_images, dtype=torch.bool)
        for slot, image_id in enumerate(image_ids):
            images[slot] = self.transform(load_image(self.catalogue, image_id))
            mask[slot] = True
        return {
            "text": listing.text,
            "images": images,
            "image_mask": mask,
            "label": self.labels[index],
            "listing_id": listing.id,
        }
