"""Versioned index directories: ``index/v<N>/`` plus an atomically swapped ``current``.

A build writes into a hidden staging directory beside the live versions,
renames it to ``v<N>`` when complete, and only then points ``current`` at it
(a new symlink renamed over the old one with ``os.replace``, atomic on POSIX).
A crash at any point therefore leaves ``current`` on the previous complete
version; the next build sweeps the leftovers away. Saved versions are never
modified afterwards, so a server can load one while a reindex writes the next.

Every version carries a ``manifest.json`` naming the model that embedded it
(loading with a different model is refused, since vectors from two models do
not live in the same space), the channels it holds, and every file it is made
of with its size and sha256. The reindex is the only writer of a version: a
server opens one read-only, and refuses one whose files are missing or do not
match the manifest, naming the part.

Channels: ``listings`` (joint listing vectors) and ``lexical`` (BM25) always;
``texts`` (text-only listing vectors), ``photos`` (per-photo joint vectors)
and ``instances`` (the photo-level instance channel) when the catalogue has
text / photos / photo pairs to build them from.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from indexing.config import IndexConfig
from indexing.instance_index import InstanceIndex
from indexing.lexical import LexicalIndex
from indexing.vector_index import VectorIndex

MANIFEST_FILE = "manifest.json"
CONTENTS_FILE = "contents.npz"
CURRENT = "current"
LISTINGS = "listings"
TEXTS = "texts"
PHOTOS = "photos"
INSTANCES = "instances"
LEXICAL = "lexical"
# Format 2: every part listed with its size and sha256; text-only vectors and
# the instance channel saved by the reindex.
FORMAT = 2
_STAGING_PREFIX = ".staging-"


class IndexNotFound(FileNotFoundError):
    """No complete index version exists yet."""


class IndexMismatch(Exception):
    """The index was built by another model (or an unknown format)."""


class IndexDamaged(Exception):
    """A part the manifest lists is missing or fails its checksum."""


def _sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def describe_parts(directory: Path) -> dict[str, dict[str, object]]:
    """Every file under ``directory`` (but the manifest): relative path -> size and sha256."""
    return {
        path.relative_to(directory).as_posix(): {
            "bytes": path.stat().st_size,
            "sha256": _sha256(path),
        }
        for path in sorted(directory.rglob("*"))
        if path.is_file() and path.name != MANIFEST_FILE
    }


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
    channels: list[str] = field(default_factory=lambda: [LISTINGS, PHOTOS, LEXICAL])
    parts: dict[str, dict[str, object]] = field(default_factory=dict)
    format: int = FORMAT
    # The bundle that embedded it (absolute path; "" before versions named it): a
    # server serving another model takes the version up with this one (api.model_swap).
    model_dir: str = ""

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

    def check_parts(self, directory: Path) -> None:
        """Refuse a version lacking a part the manifest lists, or holding a changed one."""
        for name, expected in self.parts.items():
            path = directory / name
            where = f"index v{self.version} part {name}"
            if not path.is_file():
                raise IndexDamaged(f"{where} is missing: run `marketplace reindex --full`")
            if path.stat().st_size != expected["bytes"] or _sha256(path) != expected["sha256"]:
                raise IndexDamaged(f"{where} fails its checksum: run `marketplace reindex --full`")


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
    """One loaded version: its channels (``texts`` and ``instances`` may be absent)."""

    path: Path
    manifest: IndexManifest
    listings: VectorIndex
    photos: VectorIndex
    lexical: LexicalIndex
    texts: VectorIndex | None = None
    instances: InstanceIndex | None = None

    @classmethod
    def load(
        cls, directory: Path, model_fingerprint: str, config: IndexConfig | None = None
    ) -> IndexVersion:
        """Load a version directory read-only, refusing one built by another model
        or one whose parts do not match its manifest."""
        manifest = IndexManifest.read(directory)
        if manifest.model_fingerprint != model_fingerprint:
            raise IndexMismatch(
                f"index {directory} was built by model {manifest.model_fingerprint} but the "
                f"loaded model is {model_fingerprint}: run `marketplace reindex` with this model"
            )
        manifest.check_parts(directory)
        config = config or IndexConfig(**manifest.config)  # the search settings it was built with
        channels = set(manifest.channels)

        def vectors(name: str, kind: str) -> VectorIndex:
            if name in channels:
                return VectorIndex.load(directory / name, kind, config)
            return VectorIndex.build([], np.zeros((0, manifest.dim), np.float32), config)

        return cls(
            path=directory,
            manifest=manifest,
            listings=vectors(LISTINGS, manifest.kind),
            photos=vectors(PHOTOS, manifest.photo_kind),
            lexical=LexicalIndex.load(directory),
            texts=vectors(TEXTS, manifest.kind) if TEXTS in channels else None,
            instances=(
                InstanceIndex.load(directory / INSTANCES, config) if INSTANCES in channels else None
            ),
        )

    @property
    def channels(self) -> list[str]:
        return list(self.manifest.channels)


def save_version(
    directory: Path, manifest: IndexManifest, version: IndexVersion, contents: Contents
) -> IndexManifest:
    """Write every part of a version, then the manifest listing them (last: it marks
    the version complete); returns the manifest as written."""
    version.listings.save(directory / LISTINGS)
    channels = [LISTINGS, LEXICAL]
    if version.texts is not None:
        version.texts.save(directory / TEXTS)
        channels.append(TEXTS)
    if len(version.photos):
        version.photos.save(directory / PHOTOS)
        channels.append(PHOTOS)
    if version.instances is not None:
        version.instances.save(directory / INSTANCES)
        channels.append(INSTANCES)
    version.lexical.save(directory)
    contents.save(directory)
    written = replace(manifest, channels=channels, parts=describe_parts(directory))
    written.write(directory)
    return written


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
