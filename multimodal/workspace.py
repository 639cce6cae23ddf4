"""Where everything derived from one dataset lives.

One folder per dataset under ``MARKETPLACE_HOME`` (default ``./var``), so the
real data and a synthetic catalogue never overwrite each other's models or
indexes, and a second run can see what a first run already prepared.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

DEFAULT_HOME = Path("var")
REAL_DATA_DIR = Path("../shared/marketplace")


@dataclass(frozen=True)
class Workspace:
    home: Path
    data_dir: Path
    # A ``postgresql://`` URL holding the catalogue store instead of ``store_path``.
    database_url: str | None = None

    @classmethod
    def for_data(cls, data_dir: Path, home: Path | None = None) -> Workspace:
        home = home or Path(os.environ.get("MARKETPLACE_HOME", DEFAULT_HOME))
        database_url = os.environ.get("MARKETPLACE_DATABASE_URL") or None
        return cls(home=home, data_dir=data_dir, database_url=database_url)

    @property
    def root(self) -> Path:
        resolved = str(self.data_dir.resolve())
        slug = re.sub(r"[^A-Za-z0-9_-]+", "-", self.data_dir.resolve().name).strip("-") or "data"
        digest = hashlib.sha1(resolved.encode()).hexdigest()[:8]
        return self.home / f"{slug}-{digest}"

    @property
    def clean_dir(self) -> Path:
        return self.root / "clean"

    @property
    def split_file(self) -> Path:
        return self.root / "split.json"

    @property
    def features_dir(self) -> Path:
        return self.root / "features"

    @property
    def model_dir(self) -> Path:
        return self.root / "model"

    @property
    def index_dir(self) -> Path:
        return self.root / "index"

    @property
    def store_path(self) -> Path:
        return self.root / "catalogue.sqlite"

    @property
    def store_location(self) -> Path | str:
        """Where the catalogue store lives: the database URL, else the SQLite file."""
        return self.database_url or self.store_path

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"


def default_data_dir(synthetic_dir: Path | None = None) -> tuple[Path, str]:
    """Pick the data the main command works on, and say why.

    ``MARKETPLACE_DATA`` wins, then the real dataset beside the repository,
    then a synthetic catalogue (generated on first use by the caller).
    """
    env = os.environ.get("MARKETPLACE_DATA")
    if env:
        return Path(env), "MARKETPLACE_DATA"
    if (REAL_DATA_DIR / "Products.csv").exists():
        return REAL_DATA_DIR, "the real marketplace data beside the repository"
    home = Path(os.environ.get("MARKETPLACE_HOME", DEFAULT_HOME))
    return synthetic_dir or home / "synthetic-raw", "a synthetic catalogue (no real data found)"
