"""Taking up an index version made by another model, and saying which model serves.

A version's manifest names the bundle that embedded it (``model_dir``). When
a reindex makes current a version built by a model other than the one
serving (the trained model after the frozen first index, ``marketplace
demo``), the server loads that bundle and warms it while the old model keeps
answering, opens the version with it, and then, under the catalogue writer's
lock, ``SearchService.reload_index`` swaps in the model and everything built
from it: the query embedder (its batcher, lock and cache), the ranking
pipeline and the catalogue writer (the writer's lock itself is kept, so
writes queued during the swap stay one at a time).

A frozen bundle (``multimodal.frozen``) serves text only: photo queries and
category predictions are refused with a message saying so until the trained
model serves. ``serving`` describes the model and channels for ``/readyz``,
``/progress`` and the page, with the training progress a demo's child
process writes beside the index (``multimodal.progress``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from api.domain_errors import InvalidInput
from api.observability.metrics import reload_failed
from api.serving_state import UNLOADABLE, load_newer
from api.settings import Settings
from indexing.index_store import IndexDirectory, IndexManifest, IndexVersion
from multimodal.frozen import is_frozen
from multimodal.progress import PROGRESS_FILE, read_progress

log = logging.getLogger(__name__)

NOT_YET = "the trained model serves (the first index holds text only)"


def newer_version(
    settings: Settings, embedder, serving: IndexVersion
) -> tuple[IndexVersion, object | None] | None:
    """The version a reindex made current since ``serving`` loaded, with the model to
    serve it with when that is another one (None: keep ``embedder``); None when
    there is no newer version or it cannot be served (logged)."""
    current = IndexDirectory(settings.resolved_index_dir).current()
    if current is None or current == serving.path.resolve():
        return None
    try:
        manifest = IndexManifest.read(current)
    except UNLOADABLE:
        manifest = None  # load_newer says why
    if manifest is None or manifest.model_fingerprint == embedder.fingerprint:
        index = load_newer(settings, embedder, serving)
        return None if index is None else (index, None)
    if not manifest.model_dir:
        load_newer(settings, embedder, serving)  # logs the mismatch, as before
        return None
    model = _load_model(settings, Path(manifest.model_dir), manifest.model_fingerprint)
    if model is None:
        return None
    index = load_newer(settings, model, serving)
    return None if index is None else (index, model)


def _load_model(settings: Settings, model_dir: Path, fingerprint: str):
    """The bundle at ``model_dir``, loaded and warmed, if it is the one the version names."""
    from multimodal.bundle import BundleError, read_manifest
    from multimodal.embedder import Embedder

    try:
        if read_manifest(model_dir).fingerprint != fingerprint:
            raise BundleError(f"{model_dir} holds another model than {fingerprint}")
        model = Embedder.load(
            model_dir, settings.precision, device=settings.device, engine=settings.engine
        )
    except (BundleError, OSError, ValueError, RuntimeError) as exc:
        reload_failed()
        log.warning("model %s not loaded, still serving the current one: %s", model_dir, exc)
        return None
    log.info("loaded model %s from %s for the new index version", fingerprint, model_dir)
    return model


def serves_photos(embedder) -> bool:
    """Whether ``embedder`` can embed a photo query (a frozen bundle cannot; an
    embedder without a bundle manifest, as in tests, can)."""
    manifest = getattr(embedder, "manifest", None)
    return manifest is None or not is_frozen(manifest.training)


def refuse_photos(embedder, what: str) -> None:
    """``InvalidInput`` when ``embedder`` is a frozen bundle that cannot do ``what``."""
    if not serves_photos(embedder):
        raise InvalidInput(f"{what} starts when {NOT_YET}")


def serving(service) -> dict[str, Any]:
    """Which model and channels serve, and, while a frozen bundle serves, the progress
    of the training that will replace it."""
    embedder = service.embedder
    frozen = not serves_photos(embedder)
    training = None
    if frozen:
        training = read_progress(service.settings.resolved_index_dir.parent / PROGRESS_FILE)
    return {
        "model_version": service.model_version,
        "model": "frozen" if frozen else "trained",
        "description": (
            "first index: frozen encoders, text only" if frozen else "the trained model"
        ),
        "channels": service.channels,
        "training": training,
    }
