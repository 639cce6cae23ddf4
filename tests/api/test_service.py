"""Start-up: a missing or mismatched model or index is refused; store writes are caught up."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from api.service import Query, SearchService, StartupError
from api.settings import Settings
from indexing.store import Store
from multimodal.data.catalogue import Listing
from tests.fixtures.api import INDEX_DIR, STORE_FILE, _copy_sqlite, settings_over


@pytest.fixture
def copied(api_index_root: Path, api_settings: Settings, tmp_path: Path) -> Settings:
    """Settings over a private copy of the shared store and index."""
    _copy_sqlite(api_index_root / STORE_FILE, tmp_path / STORE_FILE)
    shutil.copytree(api_index_root / INDEX_DIR, tmp_path / INDEX_DIR, symlinks=True)
    return settings_over(tmp_path, api_settings.resolved_model_dir, api_settings.resolved_image_dir)


def test_missing_model_is_refused(copied: Settings, tmp_path: Path) -> None:
    settings = copied.model_copy(update={"model_dir": tmp_path / "no-model"})
    with pytest.raises(StartupError, match="no model"):
        SearchService.open(settings)


def test_missing_index_is_refused(copied: Settings, tmp_path: Path) -> None:
    settings = copied.model_copy(update={"index_dir": tmp_path / "no-index"})
    with pytest.raises(StartupError, match="reindex"):
        SearchService.open(settings)


def test_index_of_another_model_is_refused(copied: Settings) -> None:
    current = copied.resolved_index_dir / "current"
    manifest_path = current.resolve() / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["model_fingerprint"] = "another-model"
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(StartupError, match="another-model"):
        SearchService.open(copied)


def test_listings_written_since_the_last_reindex_are_searchable_after_a_restart(
    copied: Settings,
) -> None:
    with Store(copied.resolved_store_path, copied.resolved_image_dir) as store:
        store.upsert_listing(
            Listing(
                id="written-while-down",
                title="Frobnicator deluxe",
                description="An unmistakable frobnicator.",
                price=10.0,
                location="Leeds, West Yorkshire",
                category_path=("Computers & Software", "Laptops"),
            )
        )
    service = SearchService.open(copied)
    try:
        results = service.search(Query(text="frobnicator", k=3)).results
        assert results[0].id == "written-while-down"
    finally:
        service.close()


def test_titles_holding_every_query_word_gain_the_title_coverage_bonus(copied: Settings) -> None:
    def listing(listing_id: str, title: str, description: str) -> Listing:
        return Listing(
            id=listing_id,
            title=title,
            description=description,
            price=10.0,
            location="Leeds, West Yorkshire",
            category_path=("Home & Garden", "Other Household Goods"),
        )

    with Store(copied.resolved_store_path, copied.resolved_image_dir) as store:
        store.upsert_listing(listing("names-it", "Zorbic lantern", "Bright, works well."))
        store.upsert_listing(listing("mentions-it", "Zorbic extinguisher", "Great as a lantern."))
    scores = {}
    for bonus in (0.0, 0.5):
        service = SearchService.open(copied.model_copy(update={"title_coverage_bonus": bonus}))
        try:
            results = service.search(Query(text="zorbic lanterns", k=20)).results
        finally:
            service.close()
        scores[bonus] = {r.id: r.score for r in results}
        reasons = {r.id: r.reasons for r in results}
        assert ("every word in the title" in reasons["names-it"]) == (bonus > 0)
        assert "every word in the title" not in reasons["mentions-it"]
    # the whole query in the title earns the full bonus, half of it a quarter (power 2)
    gain = {i: scores[0.5][i] - scores[0.0][i] for i in ("names-it", "mentions-it")}
    assert gain["names-it"] == pytest.approx(0.5, abs=1e-3)
    assert gain["mentions-it"] == pytest.approx(0.5 * 0.5**2, abs=1e-3)
    assert max(scores[0.5], key=scores[0.5].get) == "names-it"


def test_a_repeated_text_query_is_embedded_once_and_ranked_the_same(
    api_service: SearchService, monkeypatch: pytest.MonkeyPatch
) -> None:
    embedded: list[str] = []
    embed = api_service._embed._texts._embed

    def counting(texts):
        embedded.extend(texts)
        return embed(texts)

    monkeypatch.setattr(api_service._embed._texts, "_embed", counting)
    first = api_service.search(Query(text="walnut sideboard cache probe"))
    again = api_service.search(Query(text="walnut sideboard cache probe"))
    other = api_service.search(Query(text="walnut sideboard cache probe two"))
    assert embedded == ["walnut sideboard cache probe", "walnut sideboard cache probe two"]
    assert [(r.id, r.score) for r in again.results] == [(r.id, r.score) for r in first.results]
    assert first.results and other.results
