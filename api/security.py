"""Per-user tokens and safe photo paths (the route checks are ``api.deps``).

- A user's events are written and read only with that user's token; a seller's
  listing writes carry their id (``X-User-Id``) and token. Tokens are
  ``HMAC-SHA256(user_token_secret, user_id)``, so the server keeps no token
  table: it recomputes and compares. ``marketplace user-token USER_ID`` issues
  one (an operator hands it to the user's client).
- A photo id from a URL can never name a file outside the image folder.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from pathlib import Path

from pydantic import SecretStr

from api.domain_errors import BadImageId
from api.errors import InputError

USER_TOKEN_HEADER = "X-User-Token"
USER_ID_HEADER = "X-User-Id"  # the user a token-authenticated listing write speaks for

# Ids the catalogue uses are UUIDs or short slugs; anything with a dot, slash
# or backslash is refused before it gets near the filesystem.
_IMAGE_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
_TOKEN_CONTEXT = b"marketplace-user-token:v1:"


def _configured(secret: SecretStr | None) -> bytes | None:
    """The secret's bytes, or ``None`` when unset or empty (an empty key guards nothing)."""
    if secret is None:
        return None
    value = secret.get_secret_value()
    return value.encode("utf-8") if value else None


def _same(provided: str, expected: bytes) -> bool:
    # Header values may hold any latin-1 text; comparing bytes keeps
    # compare_digest constant-time and free of its non-ASCII TypeError.
    return hmac.compare_digest(provided.encode("utf-8"), expected)


def user_token(secret: SecretStr | None, user_id: str) -> str:
    """The token that proves a client speaks for ``user_id``."""
    key = _configured(secret)
    if key is None:
        raise ValueError("no user token secret is configured (MARKETPLACE_USER_TOKEN_SECRET)")
    digest = hmac.new(key, _TOKEN_CONTEXT + user_id.encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def check_user_token(secret: SecretStr | None, user_id: str, provided: str | None) -> None:
    """Allow access to ``user_id``'s events only with that user's token."""
    if _configured(secret) is None:
        raise InputError(
            403,
            "user events are disabled: no user token secret is configured "
            "(set MARKETPLACE_USER_TOKEN_SECRET on the server)",
        )
    if not provided:
        raise InputError(401, f"this call needs the user's token in the {USER_TOKEN_HEADER} header")
    if not _same(provided, user_token(secret, user_id).encode("ascii")):
        raise InputError(403, f"the token is not valid for user {user_id!r}")


def safe_image_path(image_dir: Path, image_id: str) -> Path:
    """The file for ``image_id`` inside ``image_dir``; ids that could escape it are refused."""
    if not _IMAGE_ID.fullmatch(image_id):
        raise BadImageId("image id may only contain letters, digits, '-' and '_' (at most 128)")
    root = image_dir.resolve()
    path = (root / f"{image_id}.jpg").resolve()
    if not path.is_relative_to(root):  # e.g. a symlink planted in the folder
        raise BadImageId("image id does not name a file in the image folder")
    return path
