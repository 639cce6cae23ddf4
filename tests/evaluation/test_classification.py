import json

from evaluation.classification import classification_report, strip_boilerplate
from multimodal.data.catalogue import CleanCatalogue
from multimodal.data.splits import Split
from multimodal.fusion import MultimodalModel


def test_strip_boilerplate() -> None:
    text = (
        "Spare paving slabs. Posted by Sam in Garden & Patio, Paving & Stones in "
        "Dundee. 3 March 2023"
    )
    assert strip_boilerplate(text) == "Spare paving slabs."
    plain = "Solid oak table, seats six. Collection in Leeds."
    assert strip_boilerplate(plain) == plain


def test_classification_report(tiny_training, clean_synthetic: CleanCatalogue, tmp_path) -> None:
    from multimodal.bundle import load_model

    ws, _, _ = tiny_training
    model, manifest, _ = load_model(ws.model_dir)
    assert isinstance(model, MultimodalModel)
    png = tmp_path / "confusion.png"
    report = classification_report(
        model,
        manifest,
        clean_synthetic,
        Split.load(ws.split_file),
        ws.features_dir,
        png,
        baselines={},
    )
    assert png.stat().st_size > 0
    for mode in ("text", "image", "fused"):
        assert 0.0 <= report["accuracy"][mode] <= 1.0
        assert 0.0 <= report["macro_f1"][mode] <= 1.0
        assert set(report["per_class_recall"][mode]) <= set(manifest.labels)
    assert report["test_listings"] == len(Split.load(ws.split_file).test)
    assert "kept within one split" in report["duplicates"]
    counts = report["confusion_matrix"]["counts"]
    assert sum(map(sum, counts)) == report["test_listings"]
    assert json.loads(json.dumps(report))["accuracy"]  # JSON-ready as it is
