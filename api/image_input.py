"""The one place photos from users are decoded.

Anything a client uploads (multipart file or base64 in JSON) passes through
``decode_image`` before it reaches the model, so every hostile or broken file
is met by the same checks, in an order that never decodes pixels it should not:

1. byte size against the cap, before anything is parsed;
2. the header only (format, width, height): pixel count against the cap and
   the smallest side against the minimum, so a decompression bomb is refused
   before a single pixel is decoded;
3. the pixels, where any decoder failure (truncated or corrupt file) becomes a
   400, never a 500;
4. EXIF orientation applied, then whatever mode the file had (palette, alpha,
   CMYK, 16-bit grey) turned into plain 8-bit RGB, alpha composited on white.
"""

from __future__ import annotations

import base64
import binascii
import io
from typing import Protocol

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from api.errors import InputError

# Formats a phone or browser sends (PIL's JPEG opener also yields the "MPO"
# multi-picture JPEGs many phones write). Everything else (TIFF, PSD, EPS, ...)
# is refused: more decoders, more risk.
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP")

# The model looks at a few hundred pixels a side, so large JPEGs are decoded at
# the coarsest DCT scale that still keeps at least this many pixels a side:
# a 12 MP phone photo then decodes in a fraction of the time and memory.
JPEG_DRAFT_SIDE = 1024

_DATA_URL_PREFIX = "data:"


class ImageCaps(Protocol):
    """The limits ``decode_image`` enforces; ``api.settings.Settings`` provides them."""

    @property
    def max_image_bytes(self) -> int: ...

    @property
    def max_image_pixels(self) -> int: ...

    @property
    def min_image_side(self) -> int: ...


def decode_base64_image(s: object, caps: ImageCaps) -> Image.Image:
    """Decode a base64 photo (optionally a ``data:image/...;base64,`` URL) to RGB."""
    return decode_image(base64_bytes(s, caps), caps)


def base64_bytes(s: object, caps: ImageCaps) -> bytes:
    """The bytes of a base64 photo (optionally a data URL), size-capped, not yet decoded."""
    if not isinstance(s, str):
        raise InputError(400, "image must be a base64 string")
    if s.startswith(_DATA_URL_PREFIX):
        header, sep, s = s.partition(",")
        if not sep or not header.endswith(";base64"):
            raise InputError(400, "image data URL must be of the form data:<type>;base64,<data>")
    s = "".join(s.split())  # line-wrapped base64 is common
    max_chars = 4 * -(-caps.max_image_bytes // 3)
    if len(s) > max_chars:
        raise InputError(413, f"image is larger than the {_mib(caps.max_image_bytes)} cap")
    # Accept the URL-safe alphabet and missing padding; reject anything else.
    s = s.translate(str.maketrans("-_", "+/"))
    s += "=" * (-len(s) % 4)
    try:
        return base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError):
        raise InputError(400, "image is not valid base64") from None


def decode_image(data: bytes, caps: ImageCaps) -> Image.Image:
    """Decode uploaded bytes to an RGB image, refusing anything unsafe with an ``InputError``."""
    if not data:
        raise InputError(400, "image is empty")
    if len(data) > caps.max_image_bytes:
        raise InputError(413, f"image is larger than the {_mib(caps.max_image_bytes)} cap")
    image = _open_header(data, caps)
    width, height = image.size
    if width * height > caps.max_image_pixels:
        raise InputError(
            413,
            f"image is {width}x{height} = {width * height:,} pixels, "
            f"over the cap of {caps.max_image_pixels:,}",
        )
    if min(width, height) < caps.min_image_side:
        raise InputError(
            422,
            f"image is {width}x{height} pixels; "
            f"each side must be at least {caps.min_image_side} pixels",
        )
    try:
        if image.format in ("JPEG", "MPO"):
            image.draft("RGB", (JPEG_DRAFT_SIDE, JPEG_DRAFT_SIDE))
        image.load()
    # Decoders raise a zoo of types on hostile bytes (OSError for truncation,
    # SyntaxError, ValueError, struct.error, EOFError, ...): all mean "bad file".
    except Exception as exc:
        raise InputError(400, f"image could not be decoded (truncated or corrupt): {exc}") from None
    return _to_rgb(_upright(image))


def _open_header(data: bytes, caps: ImageCaps) -> Image.Image:
    """Parse only the header: format and size, no pixels yet."""
    try:
        return Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except UnidentifiedImageError:
        raise InputError(
            415, f"upload is not an image in an accepted format ({', '.join(ACCEPTED_FORMATS)})"
        ) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # PIL's own guard fired on the header (its warning is an error under -W error).
        raise InputError(
            413, f"image has too many pixels (cap {caps.max_image_pixels:,})"
        ) from None
    except Exception as exc:  # a header so broken a plugin crashed parsing it
        raise InputError(400, f"image header could not be read: {exc}") from None


def _upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation; a broken EXIF block leaves the photo as stored."""
    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # malformed EXIF is the client's metadata, not a reason to refuse
        return image


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any mode to 8-bit RGB: alpha on white, 16-bit and float grey scaled, not clipped."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode.startswith("I") or mode == "F":
        return _wide_grey_to_rgb(image)
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif mode in ("PA", "LA", "La", "RGBa"):
        image = image.convert("RGBA")
    if image.mode == "RGBA":
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image, mask=image.getchannel("A"))
        return background
    return image.convert("RGB")


def _wide_grey_to_rgb(image: Image.Image) -> Image.Image:
    """16-bit/32-bit integer or float grey to 8 bits by scaling its range, not clipping it."""
    values = np.asarray(image, dtype=np.float64)
    top = float(values.max()) if values.size else 0.0
    if image.mode == "F" and top <= 1.0:
        scale = 255.0  # float images in [0, 1]
    elif top > 255.0:
        scale = 255.0 / 65535.0  # 16-bit data (PNG stores it as I or I;16)
    else:
        scale = 1.0
    grey = np.clip(values * scale, 0, 255).astype(np.uint8)
    return Image.fromarray(grey).convert("RGB")


def _mib(n: int) -> str:
    return f"{n / 2**20:g} MiB"
