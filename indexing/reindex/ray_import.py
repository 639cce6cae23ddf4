"""Importing a catalogue on Ray Data: workers read and clean its shards, the driver merges.

``marketplace reindex --executor ray --from-catalogue PATH`` (and ``data import
PATH --executor ray``) come here. ``PATH`` is one catalogue file or a folder of
them (Parquet, JSON Lines or CSV, sub-folders included). Ray Data gives each
file to a task of its own; the task reads it with the generic reader, cleans
it with the same per-row rules as ``data import`` (``--map``, currencies,
categories, photos, every problem by row number: ``multimodal.data.sharded``)
and writes its photos into the workspace's photo folder and its kept listings
into a scratch file beside it, returning only that file's path and the shard's
report. The driver takes the shards in name order, as they finish, and streams
their listings into ``clean/listings.jsonl`` through ``ShardMerger`` (which
drops an id an earlier shard already used): it holds one shard's report and
the ids kept so far, never the listings.

Why a task per file, rather than ``ray.data.read_parquet`` / ``read_json``
over the folder: the generic reader then numbers the rows as ``data import``
does and reports a line that is not JSON instead of failing the whole read,
and the per-row rules stay in one place. A larger catalogue is more files.

As for the Ray reindex, every node must see the catalogue and the workspace
at the same paths (a shared filesystem).
"""

from __future__ import annotations

import json
import shutil
import uuid
from dataclasses import asdict
from pathlib import Path

import numpy as np

from indexing.config import ReindexConfig
from indexing.reindex.ray_session import ray_session
from multimodal.data.catalogue import LISTINGS_FILE
from multimodal.data.cleaning import CleanReport, save_report
from multimodal.data.rows import RawDataError
from multimodal.data.sharded import (
    ImportOptions,
    ShardMerger,
    catalogue_shards,
    clean_shard,
    read_shard_rows,
    shard_label,
)

SCRATCH = ".import-shards"  # the tasks' cleaned rows, inside the clean folder, until merged


def _clean_shards(
    batch: dict[str, np.ndarray], source: str, out_dir: str, scratch: str, options: ImportOptions
) -> dict[str, np.ndarray]:
    """A Ray task: clean each shard of ``batch``; a whole-file problem comes back as text."""
    rows_files, reports, errors = [], [], []
    for shard in batch["shard"].tolist():
        rows_file = Path(scratch) / f"{uuid.uuid4().hex}.jsonl"
        label = shard_label(Path(source), Path(shard))
        try:
            report = json.dumps(
                asdict(clean_shard(Path(shard), label, Path(out_dir), rows_file, options))
            )
            error = ""
        except RawDataError as exc:
            rows_file, report, error = Path(), "", str(exc)
        rows_files.append(str(rows_file))
        reports.append(report)
        errors.append(error)
    return {
        "rows_file": np.array(rows_files),
        "report": np.array(reports),
        "error": np.array(errors),
    }


def import_on_ray(
    source: Path, out_dir: Path, options: ImportOptions, config: ReindexConfig
) -> CleanReport:
    """Clean the catalogue at ``source`` into ``out_dir`` (the workspace's ``clean/``) on
    Ray, writing what ``data import`` writes; a whole-file problem raises ``RawDataError``."""
    options = options.checked()
    shards = catalogue_shards(source)
    out_dir.mkdir(parents=True, exist_ok=True)
    scratch = out_dir / SCRATCH
    shutil.rmtree(scratch, ignore_errors=True)  # a killed import's leftovers
    scratch.mkdir()
    merger = ShardMerger(source, out_dir, options)
    listings_tmp = out_dir / (LISTINGS_FILE + ".tmp")
    try:
        with ray_session(config) as ray, listings_tmp.open("w", encoding="utf-8") as out:
            context = ray.data.DataContext.get_current()
            ordered = context.execution_options.preserve_order
            context.execution_options.preserve_order = True  # "first" is in shard order
            try:
                dataset = ray.data.from_items(
                    [{"shard": str(shard.resolve())} for shard in shards],
                    override_num_blocks=len(shards),
                ).map_batches(
                    _clean_shards,
                    fn_kwargs={
                        "source": str(source.resolve()),
                        "out_dir": str(out_dir.resolve()),
                        "scratch": str(scratch.resolve()),
                        "options": options,
                    },
                    batch_size=1,
                    batch_format="numpy",
                    num_cpus=1,
                )
                for done in dataset.iter_batches(batch_size=None, batch_format="numpy"):
                    for rows_file, report, error in zip(
                        done["rows_file"].tolist(),
                        done["report"].tolist(),
                        done["error"].tolist(),
                        strict=True,
                    ):
                        if error:
                            raise RawDataError(error)
                        merger.add(
                            CleanReport(**json.loads(report)),
                            read_shard_rows(Path(rows_file)),
                            lambda listing: out.write(listing.to_json() + "\n"),
                        )
                        Path(rows_file).unlink()
            finally:
                context.execution_options.preserve_order = ordered
        listings_tmp.replace(out_dir / LISTINGS_FILE)
    finally:
        listings_tmp.unlink(missing_ok=True)
        shutil.rmtree(scratch, ignore_errors=True)
    save_report(merger.report, out_dir)
    return merger.report
