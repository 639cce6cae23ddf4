"""A query's work beside its embedding gives the answer the same work in sequence gives.

The text query's keyword search runs while the batcher embeds it, and the photo
query's instance channel runs on a side thread beside its joint vector
(``api.search_pipeline``); these tests hold both to the sequential results,
over the fixture model and catalogue with every channel built.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from api.channel_hits import RootMembers
from api.search_pipeline import QueryEmbedder
from api.service import Query, SearchService
from api.serving_state import Snapshot
from indexing.config import ReindexConfig
from indexing.reindex.mapper import Mapper
from indexing.reindex.runner import reindex
from indexing.store import Store
from multimodal.instance_features import describe_images
from tests.fixtures.api import settings_over


@pytest.fixture
def service(index_copy, embedder, model_workspace):
    """A service over a copy of the fixture index rebuilt with the instance channel."""
    with Store(index_copy.store_path, index_copy.image_dir) as store:
        reindex(
            store,
            index_copy.index_dir,
            index_copy.model_dir,
            ReindexConfig(
                progress=False,
                full=True,
                split_file=model_workspace.split_file,
                instance_features_dir=model_workspace.features_dir,
            ),
            Mapper(embedder),
        )
    opened = SearchService.open(
        settings_over(index_copy.root, index_copy.model_dir, index_copy.image_dir)
    )
    yield opened
    opened.close()


def _photo(service: SearchService) -> Image.Image:
    listing = next(iter(service.store.iter_listings()))
    path = Path(service.settings.resolved_image_dir) / f"{listing.image_ids[0]}.jpg"
    with Image.open(path) as image:
        return image.convert("RGB")


def test_instance_search_outside_the_lock_matches_the_whole_search(
    service: SearchService,
) -> None:
    channel = service.instances
    assert channel is not None
    image = _photo(service)
    whole = channel.search(image, 40)
    parts = channel.nearest(describe_images(channel.encoder, [image]), 40)
    assert len(whole) > 0
    assert whole.tolist() == parts.tolist()


def test_a_photo_query_answers_the_same_every_time(service: SearchService) -> None:
    image = _photo(service)
    first = service.search(Query(image=image, k=10))
    again = service.search(Query(image=image, k=10))
    assert "looks like your photo" in {r for hit in first.results for r in hit.reasons}
    assert [(h.id, h.score, h.reasons) for h in first.results] == [
        (h.id, h.score, h.reasons) for h in again.results
    ]


def test_a_started_text_query_is_the_embedders_vector_and_is_cached(
    service: SearchService,
) -> None:
    embed = QueryEmbedder(service.embedder, service.settings)
    try:
        vector = embed.start("red mountain bike", None).result(timeout=30)
        assert embed.start("red mountain bike", None).result() is vector  # from the LRU
    finally:
        embed.close()
    expected = service.embedder.embed_texts(["red mountain bike"])[0]
    np.testing.assert_allclose(vector, expected, atol=1e-6)


def test_root_members_are_every_listing_of_the_roots(service: SearchService) -> None:
    live = Snapshot.of(list(service.store.iter_records()))
    members = RootMembers.of(live)
    roots = {row.root for row in live.rows.values()}
    for root in roots:
        expected = sorted(f for f, row in live.rows.items() if row.root == root)
        assert members.inside({root}).tolist() == expected
    everything = members.inside(roots)
    assert everything.tolist() == sorted(live.rows)
    assert members.inside({"no such root"}).tolist() == []
