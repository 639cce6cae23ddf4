"""Scratch workspaces for the benchmark tests (search, faults, swaps, load): real CLI
subprocesses run on them."""

from __future__ import annotations

import shutil

import pytest

from benchmarks.reliability.faults import FaultWorkspace, subset_workspace

# Small enough that a full reindex takes seconds, big enough to page and filter.
FAULT_LISTINGS = 60


@pytest.fixture(scope="session")
def fault_workspace(clean_synthetic, trained_bundle_dir, tmp_path_factory) -> FaultWorkspace:
    """An indexed scratch workspace, shared by tests that leave its catalogue as they found
    it (kills, swaps, load)."""
    ws = subset_workspace(
        clean_synthetic.root,
        trained_bundle_dir,
        tmp_path_factory.mktemp("faults"),
        FAULT_LISTINGS,
    )
    ws.reindex(full=True)
    return ws


@pytest.fixture
def fault_workspace_copy(fault_workspace, tmp_path) -> FaultWorkspace:
    """A private copy (store, index; model and photos still linked) for a test that breaks
    or edits it."""
    copy = FaultWorkspace(data_dir=fault_workspace.data_dir, home=tmp_path / "home")
    shutil.copytree(fault_workspace.workspace.root, copy.workspace.root, symlinks=True)
    return copy
