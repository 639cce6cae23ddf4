"""A catalogue imported on Ray Data: its files cleaned by tasks, merged in order.

The second synthetic catalogue (its own column names, euros, photos in
sub-folders, two rows of each per-row problem) is imported once by ``data
import`` as the reference, then split into shards and imported on a local Ray
of two CPUs: the cleaned listings must be the reference's, byte for byte, and
the report must count the same problems, each at its shard and row. The shards
are cut so that the repeated ids land in a later shard than their first use,
so the driver's merge, not one task, has to drop them.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from itertools import pairwise
from pathlib import Path

import pandas as pd
import pytest

from indexing.config import ReindexConfig
from indexing.index_store import IndexDirectory
from multimodal.data.catalogue import LISTINGS_FILE
from multimodal.data.cleaning import CleanReport, clean_catalogue
from multimodal.data.rows import RawDataError
from multimodal.data.sharded import ImportOptions
from multimodal.data.synthetic_generic import GenericSynthetic, generate_generic_catalogue
from multimodal.workspace import Workspace
from scripts import cli

pytestmark = pytest.mark.slow  # a local Ray takes 10 to 20 s to start on two shared cores

LISTINGS = 48
CUTS = (0, 8, 30, LISTINGS)  # rows 1-8, 9-30, 31-48: the repeated ids copy rows 1 and 2
CONFIG = ReindexConfig(ray_num_cpus=2, progress=False)


def _reference(tmp_path: Path, fmt: str) -> tuple[GenericSynthetic, Path, CleanReport]:
    raw = generate_generic_catalogue(tmp_path / "raw", n_listings=LISTINGS, seed=3, fmt=fmt)
    out = tmp_path / "reference"
    report = clean_catalogue(
        raw.path, out, 64, progress=False, mapping=raw.mapping, currency=raw.currency
    )
    return raw, out, report


def _split(raw: GenericSynthetic, fmt: str) -> dict[str, str]:
    """Cut the catalogue file into ``part-<k>`` files beside it (then remove it, so the
    folder holds only the shards and the photos); original row number → shard row."""
    where: dict[str, str] = {}
    if fmt == "jsonl":
        lines = raw.path.read_text(encoding="utf-8").splitlines(keepends=True)
    else:
        frame = pd.read_parquet(raw.path)
    for k, (start, end) in enumerate(pairwise(CUTS)):
        name = f"part-{k}.{fmt}"
        if fmt == "jsonl":
            (raw.path.parent / name).write_text("".join(lines[start:end]), encoding="utf-8")
        else:
            frame.iloc[start:end].to_parquet(raw.path.parent / name, index=False)
        where.update({str(start + i + 1): f"{name}:{i + 1}" for i in range(end - start)})
    raw.path.unlink()
    return where


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_shards_on_ray_give_the_import_of_the_whole_file(
    tmp_path: Path, fmt: str, local_ray
) -> None:
    from indexing.reindex.ray_import import import_on_ray

    raw, reference, expected = _reference(tmp_path, fmt)
    where = _split(raw, fmt)
    out = tmp_path / "on-ray"
    options = ImportOptions(raw.mapping, raw.currency.lower(), image_size=64)
    report = import_on_ray(raw.path.parent, out, options, CONFIG)
    ours = (out / LISTINGS_FILE).read_text(encoding="utf-8")
    assert ours == (reference / LISTINGS_FILE).read_text(encoding="utf-8")
    for name in ("products", "products_raw", "images", "images_raw", "price_unparsed"):
        assert getattr(report, name) == getattr(expected, name), name
    assert (report.uncategorised, report.currencies) == (2, expected.currencies)
    assert report.format == fmt and report.default_currency == "EUR"
    assert report.products + len(report.dropped_products) == report.products_raw
    accounted = report.images + len(report.bad_images) + len(report.dropped_image_rows)
    assert accounted == report.images_raw
    # every problem at its shard and row, the repeated ids dropped by the merge
    by_reason = {}
    for problem in [*report.dropped_products, *report.row_problems, *report.bad_images]:
        by_reason.setdefault(problem["reason"], []).append(problem["row"])
    for reason, rows in raw.problems.items():
        if reason != "unreadable photo":
            assert sorted(by_reason[reason]) == sorted(where[r] for r in rows), reason
    bad_photo_rows = {p["row"] for p in report.bad_images}
    assert bad_photo_rows == {where[r] for r in raw.problems["unreadable photo"]}
    assert all(where[r].startswith("part-1") or where[r].startswith("part-2")
               for r in raw.problems["duplicate id"])  # fmt: skip
    saved = json.loads((out / "report.json").read_text())
    assert saved["dropped_products_by_reason"] == expected.dropped_products_by_reason
    assert not (out / ".import-shards").exists() and not (out / "listings.jsonl.tmp").exists()


def test_a_bad_shard_or_an_empty_folder_stops_the_import_in_one_line(
    tmp_path: Path, local_ray
) -> None:
    from indexing.reindex.ray_import import import_on_ray

    options = ImportOptions({"id": "sku", "title": "headline"})
    (tmp_path / "empty").mkdir()
    with pytest.raises(RawDataError, match="holds no catalogue files"):
        import_on_ray(tmp_path / "empty", tmp_path / "out", options, CONFIG)
    shards = tmp_path / "shards"
    shards.mkdir()
    (shards / "a.jsonl").write_text('{"sku": "1", "headline": "Lamp"}\n', encoding="utf-8")
    (shards / "b.jsonl").write_bytes('{"sku": "2", "headline": "Caf\u00e9"}\n'.encode("latin-1"))
    with pytest.raises(RawDataError, match=r"b\.jsonl is not UTF-8"):
        import_on_ray(shards, tmp_path / "out", options, CONFIG)
    assert not (tmp_path / "out" / LISTINGS_FILE).exists()  # nothing half-written
    with pytest.raises(RawDataError, match="not a three-letter ISO code"):
        import_on_ray(shards, tmp_path / "out", ImportOptions(currency="euros"), CONFIG)


def test_reindex_from_catalogue_imports_the_shards_and_indexes_them(
    tmp_path: Path, trained_bundle_dir: Path, local_ray, monkeypatch, capsys
) -> None:
    """The operator's command: a folder of Parquet shards, imported and indexed on Ray."""
    raw, _, expected = _reference(tmp_path, "parquet")
    _split(raw, "parquet")
    home = tmp_path / "home"
    monkeypatch.setenv("MARKETPLACE_HOME", str(home))
    workspace = Workspace.for_data(raw.path.parent)
    shutil.copytree(trained_bundle_dir, workspace.model_dir)  # any trained model will do
    maps = [f"--map={field}={column}" for field, column in raw.mapping.items()]
    command = ["reindex", "--executor", "ray", "--from-catalogue", str(raw.path.parent), *maps]
    assert cli.main([*command, "--currency", "EUR", "--image-size", "64", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert f"cleaned {expected.products}/{LISTINGS} listings" in printed
    assert "part-1.parquet:" in printed  # problems named by shard and row
    current = IndexDirectory(workspace.index_dir).current()
    manifest = json.loads((current / "manifest.json").read_text())
    assert manifest["count"] == expected.products
    currencies = Counter(
        json.loads(line)["currency"]
        for line in (workspace.clean_dir / LISTINGS_FILE).read_text().splitlines()
    )
    assert currencies == Counter(expected.currencies)
