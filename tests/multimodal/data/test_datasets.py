"""Datasets and transforms: shapes, labels, and augmentation on for train only."""

from __future__ import annotations

import dataclasses
import itertools

import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from multimodal.data.catalogue import CleanCatalogue
from multimodal.data.datasets import ImageDataset, ListingDataset, TextDataset
from multimodal.data.labels import LabelEncoder
from multimodal.data.transforms import (
    eval_transform,
    imagenet_normalise,
    tf_normalise,
    train_transform,
)

SIZE = 32


@pytest.fixture(scope="module")
def labels(clean_synthetic: CleanCatalogue) -> LabelEncoder:
    return LabelEncoder.fit(listing.root for listing in clean_synthetic.listings)


@pytest.fixture(scope="module")
def ids(clean_synthetic: CleanCatalogue) -> list[str]:
    return [listing.id for listing in clean_synthetic.listings[:24]]


def test_normalisers():
    x = torch.tensor([0.0, 127 / 255, 1.0]).view(3, 1, 1).expand(3, 2, 2)
    assert torch.allclose(tf_normalise(x)[:, 0, 0], torch.tensor([-127 / 128, 0.0, 1.0]))
    grey = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
    assert torch.allclose(imagenet_normalise(grey), torch.zeros(3, 1, 1), atol=1e-6)


def test_eval_is_deterministic_train_is_augmented():
    img = Image.new("RGB", (64, 64), (30, 60, 90))
    img.paste((250, 10, 10), (0, 0, 20, 64))  # asymmetric, so flips and shifts show
    plain = eval_transform(SIZE, tf_normalise)
    assert plain(img).shape == (3, SIZE, SIZE)
    assert torch.equal(plain(img), plain(img))
    torch.manual_seed(0)
    augmented = train_transform(SIZE, tf_normalise)
    outs = [augmented(img) for _ in range(6)]
    assert all(o.shape == (3, SIZE, SIZE) for o in outs)
    assert any(not torch.allclose(o, plain(img), atol=1e-3) for o in outs)
    assert any(not torch.allclose(a, b) for a, b in itertools.pairwise(outs))


def test_image_dataset(clean_synthetic, labels, ids):
    data = ImageDataset(
        clean_synthetic, ids, labels, image_size=SIZE, normalise=tf_normalise, train=False
    )
    by_id = clean_synthetic.by_id()
    assert len(data) == sum(len(by_id[i].image_ids) for i in ids)
    item = data[0]
    assert item["image"].shape == (3, SIZE, SIZE) and item["image"].dtype == torch.float32
    assert item["image_id"] in by_id[item["listing_id"]].image_ids
    assert labels.decode(item["label"]) == by_id[item["listing_id"]].root
    assert torch.equal(data[0]["image"], data[0]["image"])  # eval: no randomness
    batch = next(iter(DataLoader(data, batch_size=4)))
    assert batch["image"].shape == (4, 3, SIZE, SIZE) and batch["label"].shape == (4,)


def test_image_dataset_train_mode_augments(clean_synthetic, labels, ids):
    data = ImageDataset(
        clean_synthetic, ids, labels, image_size=SIZE, normalise=tf_normalise, train=True
    )
    torch.manual_seed(1)
    draws = [data[0]["image"] for _ in range(5)]
    assert any(not torch.allclose(a, b) for a, b in itertools.pairwise(draws))


def test_text_dataset(clean_synthetic, labels, ids):
    data = TextDataset(clean_synthetic, ids, labels)
    assert len(data) == len(ids)
    listing = clean_synthetic.by_id()[ids[0]]
    assert data[0] == {
        "text": listing.text,
        "label": labels.encode(listing.root),
        "listing_id": listing.id,
    }
    batch = next(iter(DataLoader(data, batch_size=5)))
    assert len(batch["text"]) == 5 and batch["label"].shape == (5,)


def test_listing_dataset_pads_and_masks(clean_synthetic, labels):
    listings = clean_synthetic.listings
    pick = [next(x for x in listings if len(x.image_ids) == n).id for n in (0, 1, 2)]
    data = ListingDataset(
        clean_synthetic, pick, labels, image_size=SIZE, normalise=tf_normalise, train=False
    )
    masks = [data[i]["image_mask"].tolist() for i in range(3)]
    assert masks == [[False, False], [True, False], [True, True]]
    item = data[1]
    assert item["images"].shape == (2, 3, SIZE, SIZE)
    assert torch.count_nonzero(item["images"][1]) == 0
    batch = next(iter(DataLoader(data, batch_size=3)))
    assert batch["images"].shape == (3, 2, 3, SIZE, SIZE) and batch["image_mask"].shape == (3, 2)


def test_listing_dataset_caps_photos(clean_synthetic, labels):
    two = next(x for x in clean_synthetic.listings if len(x.image_ids) == 2)
    catalogue = dataclasses.replace(clean_synthetic, listings=(two,))
    data = ListingDataset(
        catalogue,
        [two.id],
        labels,
        image_size=SIZE,
        normalise=tf_normalise,
        train=False,
        max_images=1,
    )
    item = data[0]
    assert item["images"].shape == (1, 3, SIZE, SIZE) and item["image_mask"].tolist() == [True]


def test_unknown_listing_ids_are_refused(clean_synthetic, labels):
    with pytest.raises(ValueError, match="not in the catalogue"):
        TextDataset(clean_synthetic, ["no-such-id"], labels)
