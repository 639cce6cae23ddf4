"""A running service picks up the index version a reindex writes, losing no write."""

from __future__ import annotations

from dataclasses import replace

from api.service import Query, SearchService
from indexing.config import ReindexConfig
from indexing.index_store import IndexDirectory
from indexing.reindex.mapper import Mapper
from indexing.reindex.runner import reindex
from indexing.store import Store
from tests.fixtures.api import settings_over


def test_reload_swaps_in_a_new_version_and_keeps_later_writes(index_copy, embedder) -> None:
    settings = settings_over(index_copy.root, index_copy.model_dir, index_copy.image_dir)
    service = SearchService(
        settings,
        embedder,
        Store(index_copy.store_path, index_copy.image_dir),
        IndexDirectory(index_copy.index_dir).load_current(embedder.fingerprint),
    )
    try:
        assert service.reload_index() is False  # nothing new yet
        listings = list(service.store.iter_listings())
        edited, removed = listings[0], listings[1]
        with Store(index_copy.store_path, index_copy.image_dir) as store:  # the reindex job
            store.upsert_listing(replace(edited, title="Zanzibar unicorn lamp"))
            summary = reindex(
                store,
                index_copy.index_dir,
                index_copy.model_dir,
                ReindexConfig(progress=False),
                Mapper(embedder),
            )
        assert summary.embedded == 1
        service.delete_listing(removed.id)  # a write after the reindex read the store

        assert service.reload_index() is True
        assert service.index.path.name == f"v{summary.version}"
        hits = service.search(Query(text="Zanzibar unicorn lamp", k=5)).results
        assert hits[0].id == edited.id
        found = service.search(Query(text=removed.title, k=50)).results
        assert removed.id not in {hit.id for hit in found}
        assert service.reload_index() is False
    finally:
        service.close()


def test_the_app_follows_reindexes_on_its_own(index_copy, embedder) -> None:
    import time

    from fastapi.testclient import TestClient

    from api.main import create_app

    settings = settings_over(
        index_copy.root, index_copy.model_dir, index_copy.image_dir, index_poll_seconds=0.05
    )
    service = SearchService(
        settings,
        embedder,
        Store(index_copy.store_path, index_copy.image_dir),
        IndexDirectory(index_copy.index_dir).load_current(embedder.fingerprint),
    )
    with TestClient(create_app(settings, service)):
        with Store(index_copy.store_path, index_copy.image_dir) as store:
            first = next(iter(store.iter_listings()))
            store.upsert_listing(replace(first, title="Zanzibar unicorn lamp"))
            summary = reindex(
                store, index_copy.index_dir, index_copy.model_dir,
                ReindexConfig(progress=False), Mapper(embedder),
            )  # fmt: skip
        deadline = time.monotonic() + 30
        while service.index.path.name != f"v{summary.version}" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert service.index.path.name == f"v{summary.version}"
    service.close()
