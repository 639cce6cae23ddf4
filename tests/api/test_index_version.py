"""The server opens an index version read-only and whole, and never embeds at start.

The reindex writes every channel; API writes keep their vectors in the store;
a damaged version is refused at start and skipped by a running server.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.schemas import ListingCreate, ListingIn
from api.service import Query, SearchService, StartupError
from indexing.config import ReindexConfig
from indexing.index_store import IndexDirectory, IndexManifest
from indexing.reindex.mapper import Mapper
from indexing.reindex.runner import reindex
from indexing.store import Store
from multimodal.embedder import Embedder
from tests.fixtures.api import settings_over

# What embeds listings and photos (``Embedder.load`` warms up with one query of its own).
EMBEDDING = ("embed_texts", "embed_images", "embed_listings")


def folder_state(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with its sha256: equal states are byte-identical folders."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def rebuild(index_copy, embedder, **config) -> int:
    """A reindex of the copy's store; returns the version it made current."""
    with Store(index_copy.store_path, index_copy.image_dir) as store:
        summary = reindex(
            store,
            index_copy.index_dir,
            index_copy.model_dir,
            ReindexConfig(progress=False, **config),
            Mapper(embedder),
        )
    return summary.version


@pytest.fixture
def with_instances(index_copy, embedder, model_workspace):
    """The copy rebuilt with every channel, the photo-level instance channel included."""
    rebuild(
        index_copy,
        embedder,
        full=True,
        split_file=model_workspace.split_file,
        instance_features_dir=model_workspace.features_dir,
    )
    return index_copy


@pytest.fixture
def embed_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every call into the (real) embedder's encoders, by method name."""
    calls: list[str] = []
    for name in EMBEDDING:
        real = getattr(Embedder, name)

        def counting(self, *args, _real=real, _name=name, **kwargs):
            calls.append(_name)
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(Embedder, name, counting)
    return calls


def new_listing(image_ids: list[str]) -> ListingCreate:
    return ListingCreate(
        id="written-through-the-api",
        title="Frobnicator deluxe",
        description="An unmistakable frobnicator, barely used.",
        price=10.0,
        location="Leeds, West Yorkshire",
        category="Computers & Software / Laptops",
        image_ids=image_ids,
    )


def test_the_reindex_writes_every_channel_listed_with_checksums(with_instances) -> None:
    current = IndexDirectory(with_instances.index_dir).require_current()
    manifest = IndexManifest.read(current)
    assert set(manifest.channels) == {"listings", "texts", "photos", "instances", "lexical"}
    assert "instances/vectors.faiss" in manifest.parts and "texts/vectors.faiss" in manifest.parts
    assert set(manifest.parts) == set(folder_state(current)) - {"manifest.json"}


def test_an_api_written_listing_is_served_after_a_restart_without_embedding(
    with_instances, embed_calls: list[str]
) -> None:
    settings = settings_over(
        with_instances.root, with_instances.model_dir, with_instances.image_dir
    )
    service = SearchService.open(settings)
    try:
        removed = next(iter(service.store.iter_listings()))
        photo = removed.image_ids[0]
        service.create_listing(new_listing([photo]))
        service.delete_listing(removed.id)
        written_fid = service.store.faiss_id("written-through-the-api")
        photo_fid = service.store.image_fid(photo)
        vector = service.index.listings.reconstruct(written_fid)
        instance = service.instances.index.reconstruct(photo_fid)
    finally:
        service.close()

    embed_calls.clear()
    restarted = SearchService.open(settings)
    try:
        assert embed_calls == []  # nothing embedded at start
        assert restarted.channels == ["listings", "lexical", "texts", "photos", "instances"]
        assert (restarted.index.listings.reconstruct(written_fid) == vector).all()
        assert (restarted.instances.index.reconstruct(photo_fid) == instance).all()
        assert written_fid in restarted.texts and photo_fid in restarted.index.photos
        hits = restarted.search(Query(text="frobnicator deluxe", k=3)).results
        assert hits[0].id == "written-through-the-api"
        similar = restarted.similar("written-through-the-api", 3).results
        assert similar and "written-through-the-api" not in {hit.id for hit in similar}
        found = restarted.search(Query(text=removed.title, k=50)).results
        assert removed.id not in {hit.id for hit in found}
    finally:
        restarted.close()


def test_the_version_folder_is_never_written_by_the_server(index_copy, embedder) -> None:
    settings = settings_over(index_copy.root, index_copy.model_dir, index_copy.image_dir)
    first = IndexDirectory(index_copy.index_dir).require_current()
    before = folder_state(first)
    service = SearchService.open(settings)
    try:
        service.warm_up()
        listing = service.create_listing(new_listing([]))
        edit = new_listing([]).model_dump(exclude={"id"}) | {"title": "Frobnicator mark II"}
        service.update_listing(listing.id, ListingIn(**edit))
        assert folder_state(first) == before
        with Store(index_copy.store_path, index_copy.image_dir) as store:  # the reindex job
            edited = next(iter(store.iter_listings()))
            store.upsert_listing(replace(edited, title="Zanzibar unicorn lamp"))
        second = IndexDirectory(index_copy.index_dir).version_dir(rebuild(index_copy, embedder))
        after_build = folder_state(second)
        assert service.reload_index() is True
        service.search(Query(text="Zanzibar unicorn lamp"))
        service.delete_listing(listing.id)
        assert folder_state(first) == before and folder_state(second) == after_build
    finally:
        service.close()


def damage(part: Path, how: str) -> None:
    if how == "missing":
        part.unlink()
    else:
        data = bytearray(part.read_bytes())
        data[len(data) // 2] ^= 0xFF
        part.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["missing", "corrupt"])
def test_a_damaged_version_is_refused_at_start_naming_the_part(
    index_copy, how: str, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from scripts.cli import main

    current = IndexDirectory(index_copy.index_dir).require_current()
    damage(current / "listings" / "vectors.faiss", how)
    settings = settings_over(index_copy.root, index_copy.model_dir, index_copy.image_dir)
    with pytest.raises(StartupError, match=r"part listings/vectors\.faiss"):
        SearchService.open(settings)

    for name, value in {
        "MODEL_DIR": index_copy.model_dir,
        "INDEX_DIR": index_copy.index_dir,
        "STORE_PATH": index_copy.store_path,
        "IMAGE_DIR": index_copy.image_dir,
    }.items():
        monkeypatch.setenv(f"MARKETPLACE_{name}", str(value))
    assert main(["serve", "--data", str(index_copy.root)]) == 2
    # The JSON log may say what start-up did (the device it picked); the error is one line.
    lines = capsys.readouterr().err.strip().splitlines()
    err = [line for line in lines if not line.startswith("{")]
    assert len(err) == 1 and "part listings/vectors.faiss" in err[0]


def test_a_running_service_keeps_its_version_when_the_next_is_damaged(
    index_copy, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_over(index_copy.root, index_copy.model_dir, index_copy.image_dir)
    directory = IndexDirectory(index_copy.index_dir)
    service = SearchService.open(settings)
    try:
        serving = service.index.path.name
        shutil.copytree(directory.require_current(), directory.version_dir(99))
        damage(directory.version_dir(99) / "texts" / "vectors.faiss", "corrupt")
        directory.swap_current(99)
        assert service.reload_index() is False
        assert service.index.path.name == serving
        assert "part texts/vectors.faiss fails its checksum" in caplog.text
        assert service.search(Query(text="chair", k=3)).results
    finally:
        service.close()


def test_a_text_only_version_serves_text_and_says_so(index_copy, embedder, tmp_path: Path) -> None:
    """A catalogue without photos: the version holds no photo channels, and says so."""
    store_path, index_dir = tmp_path / "catalogue.sqlite", tmp_path / "index"
    with Store(index_copy.store_path, index_copy.image_dir) as source:
        listings = [replace(x, image_ids=()) for x in list(source.iter_listings())[:40]]
    with Store(store_path, index_copy.image_dir) as store:
        for listing in listings:
            store.upsert_listing(listing)
        reindex(
            store, index_dir, index_copy.model_dir, ReindexConfig(progress=False), Mapper(embedder)
        )
    assert IndexManifest.read(IndexDirectory(index_dir).require_current()).channels == [
        "listings",
        "lexical",
        "texts",
    ]
    settings = settings_over(
        tmp_path,
        index_copy.model_dir,
        index_copy.image_dir,
        index_dir=index_dir,
        store_path=store_path,
    )
    with TestClient(create_app(settings)) as client:
        ready = client.get("/readyz").json()
        assert ready["channels"] == ["listings", "lexical", "texts"]
        hits = client.post("/search", json={"text": listings[0].title, "k": 3}).json()["results"]
        assert hits[0]["id"] == listings[0].id
