"""Sellers' photos in the workspace's photo store: cleaned like the catalogue's, removable.

An uploaded photo has already passed ``api.image_input`` (caps, bombs, EXIF)
before it gets here. It is then cleaned by the very function ``marketplace
data clean`` uses (``clean_image``: padded to a square, resized to the
catalogue's photo size, the same JPEG settings) and stored under a new image
id in the cleaned image folder, where the catalogue's photos already live, so
the reindex, ``GET /images/{id}`` and the store's photo hashing treat both alike.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from pathlib import Path

from api.domain_errors import InvalidInput
from multimodal.data.catalogue import REPORT_FILE
from multimodal.data.cleaning import BadImage, clean_image

# ``clean_catalogue``'s own default, for a photo folder whose cleaning report is absent.
DEFAULT_IMAGE_SIZE = 256


class PhotoFolder:
    """The cleaned image folder: writes a write's photos all or none, removes them again."""

    def __init__(self, image_dir: Path) -> None:
        self.image_dir = image_dir
        self.image_size = catalogue_image_size(image_dir)

    def save(self, photos: Sequence[bytes]) -> list[str]:
        """Clean and store each photo under a new id; on any failure none is left behind."""
        written: list[str] = []
        self.image_dir.mkdir(parents=True, exist_ok=True)
        try:
            for data in photos:
                image_id = uuid.uuid4().hex
                upload = self.image_dir / f"{image_id}.upload"
                try:
                    upload.write_bytes(data)
                    written.append(image_id)
                    clean_image(upload, self.path(image_id), self.image_size)
                finally:
                    upload.unlink(missing_ok=True)
        except BadImage as exc:
            self.remove(written)
            raise InvalidInput(f"photo {len(written)} could not be cleaned: {exc}") from None
        except BaseException:
            self.remove(written)
            raise
        return written

    def remove(self, image_ids: Sequence[str]) -> None:
        for image_id in image_ids:
            self.path(image_id).unlink(missing_ok=True)

    def path(self, image_id: str) -> Path:
        return self.image_dir / f"{image_id}.jpg"


def catalogue_image_size(image_dir: Path) -> int:
    """The side the catalogue's photos were cleaned to (its cleaning report says)."""
    try:
        report = json.loads((image_dir.parent / REPORT_FILE).read_text(encoding="utf-8"))
        return int(report["image_size"])
    except (OSError, ValueError, KeyError, TypeError):
        return DEFAULT_IMAGE_SIZE
