import numpy as np
import pytest
from PIL import Image

from multimodal.data.catalogue import CleanCatalogue
from multimodal.embedder import Embedder, ListingContent


def _photos(catalogue: CleanCatalogue, listing) -> list[Image.Image]:
    return [Image.open(catalogue.image_path(i)).convert("RGB") for i in listing.image_ids]


def _unit_rows(vectors: np.ndarray) -> bool:
    return vectors.dtype == np.float32 and np.allclose(
        np.linalg.norm(vectors, axis=-1), 1, atol=1e-5
    )


def test_contract(embedder: Embedder) -> None:
    assert embedder.dim == 256
    assert embedder.backbones == {"text": "minilm", "image": "efficientnet-lite0"}
    assert len(embedder.labels) == 6
    assert len(embedder.fingerprint) == 16


def test_texts_images_listings_are_unit_float32(
    embedder: Embedder, clean_synthetic: CleanCatalogue
) -> None:
    listings = [item for item in clean_synthetic.listings if len(item.image_ids) == 2][:3]
    texts = embedder.embed_texts([item.text for item in listings])
    photos = embedder.embed_images(_photos(clean_synthetic, listings[0]))
    fused = embedder.embed_listings(
        [ListingContent(item.text, _photos(clean_synthetic, item)) for item in listings]
    )
    assert texts.shape == (3, 256) and photos.shape == (2, 256) and fused.shape == (3, 256)
    assert all(_unit_rows(v) for v in (texts, photos, fused))
    assert embedder.embed_texts([]).shape == (0, 256)


def test_listing_without_photos_is_its_text(embedder: Embedder) -> None:
    fused = embedder.embed_listings([ListingContent("a wooden chair")])
    np.testing.assert_allclose(fused[0], embedder.embed_texts(["a wooden chair"])[0], atol=1e-6)


def test_query_paths(embedder: Embedder, clean_synthetic: CleanCatalogue) -> None:
    photo = _photos(clean_synthetic, next(i for i in clean_synthetic.listings if i.image_ids))[0]
    text_only = embedder.embed_query("mountain bike")
    image_only = embedder.embed_query(None, photo)
    both = embedder.embed_query("mountain bike", photo)
    for vector in (text_only, image_only, both):
        assert vector.shape == (256,) and _unit_rows(vector[None])
    np.testing.assert_allclose(image_only, embedder.embed_images([photo])[0], atol=1e-6)
    with pytest.raises(ValueError):
        embedder.embed_query(None, None)


def test_predict_category(embedder: Embedder, clean_synthetic: CleanCatalogue) -> None:
    listing = next(i for i in clean_synthetic.listings if i.image_ids)
    for probs in (
        embedder.predict_category(listing.text, _photos(clean_synthetic, listing)),
        embedder.predict_category(listing.text),
        embedder.predict_category(None, _photos(clean_synthetic, listing)),
    ):
        assert set(probs) == set(embedder.labels)
        assert sum(probs.values()) == pytest.approx(1.0, abs=1e-5)
