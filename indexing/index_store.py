"""Versioned index directories: ``index/v<N>/`` plus an atomically swapped ``current``.

A build writes into a hidden staging directory beside the live versions,
renames it to ``v<N>`` when complete, and only then points ``current`` at it
(a new symlink renamed over the old one with ``os.replace``, atomic on POSIX).
A crash at any point therefore leaves ``current`` on the previous complete
version; the next build sweeps the leftovers away. Saved versions are never
modified afterwards, so a server can load one while a reindex writes the next.

Every version carries a ``manifest.json`` naming the model that embedded it;
loading with a different model is refused, since vectors from two models do
not live in the same space.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from indexing.config import IndexConfig
from indexing.lexical import LexicalIndex
from indexing.vector_index import VectorIndex

MANIFEST_FILE = "manifest.json"
CONTENTS_FILE = "contents.npz"
CURRENT = "current"
LISTINGS_DIR = "listings"
PHOTOS_DIR = "photos"
FORMAT = 1
_STAGING_PREFIX = ".staging-"


class IndexNotFound(FileNotFoundError):
    """No complete index version exists yet."""


class IndexMismatch(Exception):
    """The index was built by another model (or an unknown format)."""


@dataclass(frozen=True)
class IndexManifest:
    """What built a version, from which data, and what it holds."""

    version: int
    kind: str
    photo_kind: str
    dim: int
    count: int
    photo_count: int
    model_fingerprint: str
    backbones: dict[str, str]
    built_at: str
    build_seconds: float
    data: dict[str, str]
    changes: dict[str, int]
    config: dict[str, object] = field(default_factory=dict)
    format: int = FORMAT

    def write(self, directory: Path) -> None:
        (directory / MANIFEST_FILE).write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def read(cls, directory: Path) -> IndexManifest:
        try:
            raw = json.loads((directory / MANIFEST_FILE).read_text())
        except FileNotFoundError as exc:
            raise IndexNotFound(f"no {MANIFEST_FILE} in {directory}") from exc
        if raw.get("format") != FORMAT:
            raise IndexMismatch(
                f"index {directory} has format {raw.get('format')}, this code reads {FORMAT}: "
                "run `marketplace reindex --full`"
            )
        return cls(**raw)


@dataclass(frozen=True)
class Contents:
    """Which listings (and photos) a version holds, with the hashes they were embedded from.

    The next reindex diffs the store against this to report what changed.
    """

    fids: np.ndarray
    hashes: np.ndarray  # content hash per fid, as bytes
    image_fids: np.ndarray

    def save(self, directory: Path) -> None:
        np.savez(
            directory / CONTENTS_FILE,
            fids=self.fids,
            hashes=self.hashes,
            image_fids=self.image_fids,
        )

    @classmethod
    def load(cls, directory: Path) -> Contents:
        with np.load(directory / CONTENTS_FILE) as data:
            return cls(data["fids"], data["hashes"], data["image_fids"])

    def hash_by_fid(self) -> dict[int, bytes]:
        return dict(zip(self.fids.tolist(), self.hashes.tolist(), strict=True))


@dataclass
class IndexVersion:
    """One loaded version: listing vectors, photo vectors, lexical index."""

    path: Path
    manifest: IndexManifest
    listings: VectorIndex
    photos: VectorIndex
    lexical: LexicalIndex

    @classmethod
    def load(
        cls, directory: Path, model_fingerprint: str, config: IndexConfig | None = None
    ) -> IndexVersion:
        """Load a version directory, refusing one built by another model."""
        manifest = IndexManifest.read(directory)
        if manifest.model_fingerprint != model_fingerprint:
            raise IndexMismatch(
                f"index {directory} was built by model {manifest.model_fingerprint} but the "
                f"loaded model is {model_fingerprint}: run `marketplace reindex` with this model"
            )
        config = config or IndexConfig(**manifest.config)  # the search settings it was built with
        return cls(
            path=directory,
            manifest=manifest,
            listings=VectorIndex.load(directory / LISTINGS_DIR, manifest.kind, config),
            photos=VectorIndex.load(directory / PHOTOS_DIR, manifest.photo_kind, config),
            lexical=LexicalIndex.load(directory),
        )


def save_version(
    directory: Path,
    manifest: IndexManifest,
    listings: VectorIndex,
    photos: VectorIndex,
    lexical: LexicalIndex,
    contents: Contents,
) -> None:
    """Write every file of a version; the manifest goes last, marking it complete."""
    listings.save(directory / LISTINGS_DIR)
    photos.save(directory / PHOTOS_DIR)
    lexical.save(directory)
    contents.save(directory)
    manifest.write(directory)


class IndexDirectory:
    """The ``index/`` folder of a workspace: versions, ``current``, staging, a build lock."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def versions(self) -> list[int]:
        """Complete versions (those with a manifest), ascending."""
        found = []
        for path in self.root.glob("v*"):
            if path.name[1:].isdigit() and (path / MANIFEST_FILE).exists():
                found.append(int(path.name[1:]))
        return sorted(found)

    def version_dir(self, version: int) -> Path:
        return self.root / f"v{version}"

    def current(self) -> Path | None:
        """The version ``current`` points at, or None before the first build."""
        link = self.root / CURRENT
        if not link.is_symlink():
            return None
        target = (self.root / os.readlink(link)).resolve()
        return target if (target / MANIFEST_FILE).exists() else None

    def require_current(self) -> Path:
        current = self.current()
        if current is None:
            raise IndexNotFound(f"no index in {self.root}: run `marketplace reindex` first")
        return current

    def load_current(
        self, model_fingerprint: str, config: IndexConfig | None = None
    ) -> IndexVersion:
        return IndexVersion.load(self.require_current(), model_fingerprint, config)

    @contextmanager
    def build_lock(self) -> Iterator[None]:
        """One build at a time per index folder (a second one fails fast)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".lock").open("w") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise RuntimeError(f"another reindex is running on {self.root}") from exc
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def clean_stale(self) -> list[Path]:
        """Remove staging folders left by crashed builds (call under ``build_lock``)."""
        stale = sorted(self.root.glob(f"{_STAGING_PREFIX}*"))
        for path in stale:
            shutil.rmtree(path, ignore_errors=True)
        return stale

    def staging_dir(self) -> tuple[Path, int]:
        """A fresh staging folder and the version number it will become."""
        existing = [int(p.name[1:]) for p in self.root.glob("v*") if p.name[1:].isdigit()]
        version = max(existing, default=0) + 1
        path = self.root / f"{_STAGING_PREFIX}v{version}"
        path.mkdir(parents=True)
        return path, version

    def commit(self, staging: Path, version: int) -> Path:
        """Rename a complete staging folder to ``v<N>`` (not yet current)."""
        final = self.version_dir(version)
        staging.rename(final)
        return final

    def swap_current(self, version: int) -> None:
        """Point ``current`` at ``v<version>`` atomically."""
        tmp = self.root / f"{CURRENT}.tmp"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(f"v{version}")
        os.replace(tmp, self.root / CURRENT)

    def prune(self, keep: int) -> list[int]:
        """Delete all but the newest ``keep`` versions, never the current one."""
        current = self.current()
        removed = []
        for version in self.versions()[:-keep] if keep > 0 else []:
            path = self.version_dir(version)
            if current is not None and path.resolve() == current:
                continue
            shutil.rmtree(path, ignore_errors=True)
            removed.append(version)
        return removed
