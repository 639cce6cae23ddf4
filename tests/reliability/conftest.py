"""Scratch workspaces for the fault, swap and load tests: real CLI subprocesses run on them."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from api.reliability.faults import FaultWorkspace, subset_workspace

# Small enough that a full reindex takes seconds, big enough to page and filter.
FAULT_LISTINGS = 60


@pytest.fixture(scope="session")
def make_fault_workspace(
    clean_synthetic, trained_bundle_dir, tmp_path_factory
) -> Callable[[str], FaultWorkspace]:
    """Build a fresh indexed scratch workspace (its own store and index) per call."""

    def make(name: str, indexed: bool = True) -> FaultWorkspace:
        ws = subset_workspace(
            clean_synthetic.root, trained_bundle_dir, tmp_path_factory.mktemp(name),
            FAULT_LISTINGS,
        )
        if indexed:
            ws.reindex(full=True)
        return ws

    return make


@pytest.fixture(scope="session")
def fault_workspace(make_fault_workspace) -> FaultWorkspace:
    """Shared by tests that leave the catalogue as they found it (kills, swaps, load)."""
    return make_fault_workspace("faults")
