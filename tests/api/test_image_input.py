"""``api.image_input``: every hostile or awkward photo becomes RGB or a clear 4xx."""

from __future__ import annotations

import base64
import warnings
from dataclasses import dataclass

import numpy as np
import pytest
from PIL import Image

from api.errors import InputError
from api.image_input import decode_base64_image, decode_image
from benchmarks.reliability import payloads as images


@dataclass(frozen=True)
class Caps:
    max_image_bytes: int = 2**20
    max_image_pixels: int = 4_000_000
    min_image_side: int = 16


CAPS = Caps()


def refused(data: bytes, caps: Caps = CAPS) -> InputError:
    with pytest.raises(InputError) as info:
        decode_image(data, caps)
    assert 400 <= info.value.status < 500
    assert info.value.message
    return info.value


def test_plain_photo_decodes_to_rgb():
    image = decode_image(images.photo((64, 48)), CAPS)
    assert image.mode == "RGB" and image.size == (64, 48)


@pytest.mark.parametrize(
    ("payload", "status", "words"),
    [
        (b"", 400, "empty"),
        (images.NOT_AN_IMAGE, 415, "not an image"),
        (bytes(range(256)) * 4, 415, "not an image"),
        (images.truncated_jpeg(), 400, "truncated"),
        (images.truncated_png(), 400, "truncated"),
        (images.tiny_png(), 422, "at least 16"),
    ],
    ids=["empty", "pdf", "random-bytes", "truncated-jpeg", "truncated-png", "1x1"],
)
def test_bad_payloads_are_refused_with_a_message(payload, status, words):
    error = refused(payload)
    assert error.status == status
    assert words in error.message


def test_bytes_over_the_cap_are_refused_before_parsing():
    error = refused(images.photo((64, 64)), Caps(max_image_bytes=100))
    assert error.status == 413 and "MiB cap" in error.message


def test_over_pixel_cap_is_refused_from_the_header():
    error = refused(images.encode(Image.new("L", (3000, 2000))))
    assert error.status == 413 and "6,000,000 pixels" in error.message


@pytest.mark.parametrize("side", [10_000, 20_000], ids=["over-pil-warning", "over-pil-error"])
def test_decompression_bombs_are_refused_without_decoding(side):
    # 10k² passes PIL's warning threshold, 20k² its hard error: both must end as our 413.
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning escaping would now fail the test
        error = refused(images.png_bomb(side))
    assert error.status == 413


def test_bomb_under_pil_limits_but_over_our_cap():
    error = refused(images.png_bomb(2_500))
    assert error.status == 413


def test_tiff_is_not_an_accepted_format():
    error = refused(images.encode(Image.new("RGB", (64, 64)), "TIFF"))
    assert error.status == 415


def test_transparent_png_is_composited_on_white():
    rgba = Image.new("RGBA", (32, 32), (255, 0, 0, 0))
    rgba.paste((0, 0, 255, 255), (0, 0, 16, 32))
    out = np.asarray(decode_image(images.encode(rgba), CAPS))
    assert tuple(out[0, 0]) == (0, 0, 255)
    assert tuple(out[0, 31]) == (255, 255, 255)


def test_palette_with_transparency_and_grey_alpha():
    palette = Image.new("P", (32, 32), 0)
    palette.putpalette([10, 20, 30] * 256)
    out = decode_image(images.encode(palette, transparency=0), CAPS)
    assert out.mode == "RGB" and out.getpixel((0, 0)) == (255, 255, 255)
    grey_alpha = Image.new("LA", (32, 32), (100, 255))
    assert decode_image(images.encode(grey_alpha), CAPS).getpixel((5, 5)) == (100, 100, 100)


def test_cmyk_jpeg_becomes_rgb():
    cmyk = Image.new("CMYK", (32, 32), (0, 255, 255, 0))  # pure red in CMYK
    r, g, b = decode_image(images.encode(cmyk, "JPEG", quality=95), CAPS).getpixel((16, 16))
    assert r > 200 and g < 60 and b < 60


def test_16_bit_grey_is_scaled_not_clipped():
    values = np.full((32, 32), 32768, dtype=np.uint16)
    values[:, :16] = 65535
    sixteen = Image.fromarray(values)
    assert sixteen.mode.startswith("I;16")
    out = decode_image(images.encode(sixteen), CAPS)
    assert out.getpixel((0, 0)) == (255, 255, 255)
    assert out.getpixel((31, 0))[0] in (127, 128)


def test_one_bit_and_animated_gif():
    assert decode_image(images.encode(Image.new("1", (32, 32), 1)), CAPS).getpixel((0, 0)) == (
        255,
        255,
        255,
    )
    frames = [Image.new("P", (32, 32), i) for i in range(3)]
    gif = images.encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    assert decode_image(gif, CAPS).size == (32, 32)


def test_exif_orientation_is_applied():
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    data = images.encode(Image.new("RGB", (64, 32)), "JPEG", exif=exif.tobytes())
    assert decode_image(data, CAPS).size == (32, 64)


def test_large_jpeg_is_decoded_at_reduced_scale():
    data = images.photo((4096, 2304))
    image = decode_image(data, Caps(max_image_bytes=8 * 2**20, max_image_pixels=10**7))
    assert image.size == (2048, 1152)


# --- base64 -----------------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize(
    "wrap",
    [
        lambda s: s,
        lambda s: "data:image/jpeg;base64," + s,
        lambda s: s.rstrip("="),
        lambda s: "\n".join(s[i : i + 76] for i in range(0, len(s), 76)),
        lambda s: s.replace("+", "-").replace("/", "_"),
    ],
    ids=["plain", "data-url", "no-padding", "wrapped", "urlsafe"],
)
def test_base64_forms_clients_send(wrap):
    assert decode_base64_image(wrap(b64(images.photo())), CAPS).size == (64, 48)


@pytest.mark.parametrize(
    ("value", "status"),
    [
        ("not base64 at all!", 400),
        ("ünïcödé", 400),
        ("A", 400),
        ("data:image/png,abcd", 400),
        (12345, 400),
        ("", 400),
        (b64(images.NOT_AN_IMAGE), 415),
        ("A" * (4 * 2**20), 413),
    ],
    ids=[
        "bad-chars",
        "non-ascii",
        "one-char",
        "data-url-not-base64",
        "not-a-string",
        "empty",
        "decodes-to-non-image",
        "too-long",
    ],
)
def test_malformed_base64_is_refused(value, status):
    with pytest.raises(InputError) as info:
        decode_base64_image(value, CAPS)
    assert info.value.status == status and info.value.message
