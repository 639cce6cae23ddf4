"""Fixtures the indexing tests share."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def local_ray():
    """A local two-CPU Ray for one test module (skipped where Ray is not installed)."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()
