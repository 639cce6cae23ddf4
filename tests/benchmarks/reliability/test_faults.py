"""Faults on real processes: SIGKILLed reindexes and a server that must refuse to start."""

from __future__ import annotations

import json
import shutil

import pytest

from benchmarks.harness import free_port
from benchmarks.reliability.faults import FaultWorkspace, kill_campaign, serve_refusal
from indexing.index_store import IndexDirectory

pytestmark = pytest.mark.slow

SEED = 8


def test_reindex_killed_at_any_point_leaves_old_index_and_store(fault_workspace):
    campaign = kill_campaign(fault_workspace, random_kills=2, seed=SEED)
    for kill in campaign.kills:
        assert kill.ok, kill.as_dict()
    assert campaign.kills[-1].was_running, "the staging kill came after the run had finished"
    assert sum(kill.was_running for kill in campaign.kills) >= 2
    assert campaign.ok, campaign.as_dict()  # and the next reindex completed, nothing left over


def _refused(ws: FaultWorkspace, case: str, words: str) -> None:
    outcome = serve_refusal(ws, case, free_port())
    assert outcome.ok, outcome.as_dict()
    assert outcome.returncode == 2
    assert words in outcome.message, outcome.message


def test_server_refuses_a_missing_model(fault_workspace_copy):
    ws = fault_workspace_copy
    ws.workspace.model_dir.unlink()  # the symlink to the bundle
    _refused(ws, "missing model", "no model")


def test_server_refuses_a_missing_index(fault_workspace_copy):
    ws = fault_workspace_copy
    shutil.rmtree(ws.workspace.index_dir)
    _refused(ws, "missing index", "index")


def test_server_refuses_an_index_built_by_another_model(fault_workspace_copy):
    ws = fault_workspace_copy
    current = IndexDirectory(ws.workspace.index_dir).require_current()
    manifest = json.loads((current / "manifest.json").read_text())
    manifest["model_fingerprint"] = "some-other-model"
    (current / "manifest.json").write_text(json.dumps(manifest))
    _refused(ws, "mismatched index", "some-other-model")
