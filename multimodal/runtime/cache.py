"""The exported graphs, cached beside the bundle they came from.

``<model_dir>/runtime/onnx-<fingerprint>-e<EXPORT_VERSION>/`` holds one
bundle's graphs: the bundle's fingerprint (the hash of its weights) names
them, so retrained weights are never served by stale graphs, and the export
version names the exporter, so a change to what is exported rebuilds them. A
directory is written under a temporary name and renamed into place, so a
reader never sees half a cache and two processes exporting at once both end
with a whole one. Other entries (older fingerprints) are removed after an
export.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from multimodal.fusion import MultimodalModel
from multimodal.runtime.export import GRAPHS, export_graphs

log = logging.getLogger(__name__)

RUNTIME_DIR = "runtime"
# Bumped whenever ``export`` changes what the graphs compute or how.
EXPORT_VERSION = 2


def runtime_dir(model_dir: Path, fingerprint: str) -> Path:
    """Where the graphs of the bundle with ``fingerprint`` live."""
    return Path(model_dir) / RUNTIME_DIR / f"onnx-{fingerprint}-e{EXPORT_VERSION}"


def _complete(directory: Path) -> bool:
    return all((directory / name).is_file() for name in GRAPHS)


def torch_instead(exc: Exception, engine: str, doing: str) -> None:
    """The runtime failed: with the ``onnx`` engine that is the error; with ``auto``,
    one log line (the error's first line) and the caller lets torch do the work."""
    if engine == "onnx":
        raise exc
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    log.warning("ONNX runtime unavailable, %s with torch: %s", doing, first)


def write_atomically(
    target: Path, write: Callable[[Path], None], complete: Callable[[Path], bool]
) -> None:
    """Fill ``target`` by ``write``-ing a scratch folder beside it and renaming it in:
    a reader never sees half a folder, and of two processes racing, one wins and the
    other's ``OSError`` is swallowed once ``target`` is ``complete``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".export-", dir=target.parent))
    try:
        write(tmp)
        if target.exists():  # a stale or partial entry under this name
            shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
    except OSError:
        if not complete(target):  # not another process winning the race
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def ensure_exported(
    model_dir: Path, model: MultimodalModel, fingerprint: str, image_size: int
) -> Path:
    """The bundle's graph directory, exported first when missing or stale."""
    target = runtime_dir(model_dir, fingerprint)
    if _complete(target):
        return target
    root = target.parent
    started = time.perf_counter()
    write_atomically(target, lambda tmp: export_graphs(model, image_size, tmp), _complete)
    log.info("exported the encoders to %s in %.1f s", target, time.perf_counter() - started)
    for other in root.iterdir():
        if other != target and not other.name.startswith("."):
            shutil.rmtree(other, ignore_errors=True)
    return target


def open_encoders(
    model_dir: Path, model: MultimodalModel, fingerprint: str, image_size: int, engine: str
):
    """The runtime's encoders for ``engine`` (``auto``, ``onnx`` or ``torch``), or None
    for torch: ``auto`` falls back to torch, with one log line, when the export or
    the runtime fails (a read-only model folder, an unexportable model)."""
    import torch

    from multimodal.runtime.engine import ENGINES
    from multimodal.runtime.session import OnnxEncoders

    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    if engine == "torch":
        return None
    try:
        directory = ensure_exported(model_dir, model, fingerprint, image_size)
        return OnnxEncoders(directory, torch.get_num_threads())
    except Exception as exc:
        torch_instead(exc, engine, "encoding")
        return None
