"""The retrieval evaluation runs end to end on the synthetic catalogue."""

import json

import pytest

from evaluation.retrieval import run_evaluation
from evaluation.world import (
    BM25,
    FUSED_DENSE,
    HYBRID,
    IMAGE_DENSE,
    EvalConfig,
    VectorSources,
)
from multimodal.data.splits import make_split
from tests.fixtures.hashing_embedder import HashingEmbedder


def evaluate(catalogue, cache, **config):
    """The evaluation of ``catalogue`` with the small test settings (plus ``config``)."""
    split = make_split(catalogue.listings, seed=0)
    settings = EvalConfig(seed=0, users_per_root=2, history_size=4, clear_queries=20, **config)
    return run_evaluation(
        catalogue, split, HashingEmbedder(), settings, VectorSources(cache_root=cache),
        progress=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def report(clean_synthetic, tmp_path_factory):
    return evaluate(clean_synthetic, tmp_path_factory.mktemp("eval-cache"))


def test_every_task_and_method_is_reported(report):
    tasks = report["tasks"]
    assert tasks["other_photo"]["queries"] > 0
    assert set(tasks["other_photo"]["methods"]) == {IMAGE_DENSE, FUSED_DENSE, HYBRID}
    assert set(tasks["title_to_listing"]["methods"]) >= {BM25, FUSED_DENSE, HYBRID}
    assert set(tasks["category_precision"]) == {"root names", "sub-category names", "titles"}
    assert tasks["personalisation"]["ambiguous"]["pairs"] > 0
    json.dumps(report)  # JSON-ready as it is


def test_metrics_are_in_range(report):
    for task in ("other_photo", "title_to_listing"):
        for metrics in report["tasks"][task]["methods"].values():
            assert all(0.0 <= v <= 1.0 for v in metrics.values())
            assert metrics["recall@1"] <= metrics["recall@10"]
            assert metrics["recall@1"] <= metrics["mrr"] <= metrics["recall@10"] + 1e-9


def test_bm25_finds_a_listing_from_its_own_title(report):
    # the title is in the indexed text, so keyword search must nearly always find it
    assert report["tasks"]["title_to_listing"]["methods"][BM25]["recall@10"] >= 0.9


def test_same_seed_same_figures(report, clean_synthetic, tmp_path):
    again = evaluate(clean_synthetic, tmp_path)
    assert again["tasks"] == report["tasks"]


def test_validation_part_asks_other_questions(report, clean_synthetic, tmp_path):
    """Knobs are tuned on the "val" part: other listings, words and users than the test's."""
    split = make_split(clean_synthetic.listings, seed=0)
    val = evaluate(clean_synthetic, tmp_path, split="val")
    assert val["data"]["query_split"] == "val" and report["data"]["query_split"] == "test"
    assert val["data"]["query_listings"] == len(split.val)
    val_words = val["tasks"]["personalisation"]["ambiguous"]["queries"]
    assert set(val_words).isdisjoint(report["tasks"]["personalisation"]["ambiguous"]["queries"])
    assert val["tasks"]["category_precision"]["root names"]["queries"] == 0


def test_unknown_split_is_refused(clean_synthetic):
    split = make_split(clean_synthetic.listings, seed=0)
    with pytest.raises(ValueError, match="split"):
        run_evaluation(clean_synthetic, split, HashingEmbedder(), EvalConfig(split="train"))


def test_report_plots_and_tables(report, tmp_path):
    from evaluation.report import markdown_tables, plot_retrieval_report, summary_line

    paths = plot_retrieval_report(report, tmp_path)
    assert [p.name for p in paths] == [
        "retrieval_methods.png",
        "retrieval_recall_vs_latency.png",
        "retrieval_personalisation.png",
    ]
    assert all(p.stat().st_size > 0 for p in paths)
    tables = markdown_tables(report)
    assert "| title R@10 |" in tables and "| target | value | met |" in tables
    assert "targets met" in summary_line(report)


@pytest.mark.slow
def test_evaluation_with_the_trained_model(clean_synthetic, embedder, model_workspace, tmp_path):
    """The real model path, including the frozen baseline from training's feature cache."""
    from evaluation.world import FROZEN, INSTANCE

    split = make_split(clean_synthetic.listings, seed=0)
    config = EvalConfig(max_queries=20, users_per_root=1, history_size=4, clear_queries=10)
    sources = VectorSources(cache_root=tmp_path, features_root=model_workspace.features_dir)
    report = run_evaluation(clean_synthetic, split, embedder, config, sources, progress=False)
    photo = report["tasks"]["other_photo"]["methods"]
    assert set(photo) == {IMAGE_DENSE, FUSED_DENSE, HYBRID, FROZEN, INSTANCE}
    assert report["model"]["fingerprint"] == embedder.fingerprint
    # a trained model beats chance (10 / ~300 listings) at finding the other photo
    assert photo[IMAGE_DENSE]["recall@10"] > 0.1


def test_a_category_name_query_returns_that_category(report):
    """The served ranking searches inside a category the query names (``api.category_match``),
    so a root name's top 10 is its own listings even for an embedder that knows no words."""
    names = report["tasks"]["category_precision"]["root names"]["methods"]
    assert names[HYBRID]["precision@10"] == 1.0
