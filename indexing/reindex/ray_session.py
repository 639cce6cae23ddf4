"""One Ray for a run: started here unless the caller already has one, quiet, and stopped.

The Ray import and the Ray reindex share it, so ``marketplace reindex
--from-catalogue`` starts Ray once for both. With ``ray_address=None`` a local
Ray starts on ``ray_num_cpus`` cores; a cluster address (``ray://head:10001``
or ``auto``) joins that cluster instead.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

from indexing.config import ReindexConfig


@contextmanager
def ray_session(config: ReindexConfig) -> Iterator[ModuleType]:
    """The ``ray`` module, initialised; shut down at the end only if started here."""
    import ray  # optional extra: only the Ray executor needs it

    started = not ray.is_initialized()
    if started:
        ray.init(
            address=config.ray_address,
            num_cpus=None if config.ray_address else config.ray_num_cpus,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )
    try:
        for name in ("ray", "ray.data"):  # the run ends with one summary line, not Ray's log
            logging.getLogger(name).setLevel(logging.WARNING)
        ray.data.DataContext.get_current().enable_progress_bars = False
        yield ray
    finally:
        if started:
            ray.shutdown()
