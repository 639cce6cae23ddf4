"""Every kind of bad request the issue lists, sent through any ``httpx.Client``.

The same list runs in the test suite (through ``TestClient``, which is an
``httpx.Client``) and in the benchmark (over loopback to a real server), so
the report's "inputs tried" is exactly what the tests hold the API to: each
must get a 4xx with a JSON ``detail`` message, never a 5xx or a hang.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from benchmarks.reliability import payloads


@dataclass(frozen=True)
class Probe:
    name: str
    method: str
    path: str
    request: dict[str, Any] = field(default_factory=dict)  # httpx.request keyword arguments
    expect: int | None = None  # a specific status the contract fixes, else any 4xx


@dataclass(frozen=True)
class ProbeResult:
    name: str
    status: int
    detail: str
    ok: bool
    expect: int | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "detail": self.detail,
            "ok": self.ok,
            "expect": self.expect,
        }


@dataclass(frozen=True)
class ProbeContext:
    """What the probes need to know about the server under test."""

    listing_id: str  # an existing listing, so only the probed part of a request is wrong
    max_text_chars: int
    max_body_bytes: int
    max_image_pixels: int
    admin_key: str | None = None
    user_id: str = "probe-user"
    user_token: str | None = None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    for start in range(0, total, size):
        yield b"x" * min(size, total - start)


def search_probes(ctx: ProbeContext) -> list[Probe]:
    def search(name: str, body: Any, expect: int | None = None) -> Probe:
        return Probe(name, "POST", "/search", {"json": body}, expect)

    over_cap_side = int(ctx.max_image_pixels**0.5) + 100
    return [
        search("empty query", {}),
        search("empty text", {"text": ""}),
        search("blank text", {"text": "   \n\t "}),
        search("overlong text", {"text": "sofa " * (ctx.max_text_chars // 5 + 1)}),
        search("k = 0", {"text": "sofa", "k": 0}, 422),
        search("k over 100", {"text": "sofa", "k": 101}, 422),
        search("k not a number", {"text": "sofa", "k": "ten"}, 422),
        search("negative offset", {"text": "sofa", "offset": -1}, 422),
        search("offset out of range", {"text": "sofa", "offset": 10**9}),
        search(
            "price_min > price_max",
            {"text": "sofa", "filters": {"price_min": 50, "price_max": 10}},
            422,
        ),
        search("negative price_min", {"text": "sofa", "filters": {"price_min": -1}}, 422),
        search("negative price_max", {"text": "sofa", "filters": {"price_max": -5}}, 422),
        search("unknown filter", {"text": "sofa", "filters": {"colour": "red"}}, 422),
        search("unknown field", {"text": "sofa", "page": 2}, 422),
        search("malformed base64", {"image": "this is not base64!!"}),
        search("base64 of a non-image", {"image": _b64(payloads.NOT_AN_IMAGE)}),
        search("truncated JPEG", {"image": _b64(payloads.truncated_jpeg())}),
        search("truncated PNG", {"image": _b64(payloads.truncated_png())}),
        search("1x1 image", {"image": _b64(payloads.tiny_png())}),
        search("decompression bomb", {"image": _b64(payloads.png_bomb(20_000))}),
        search("image over the pixel cap", {"image": _b64(payloads.png_bomb(over_cap_side))}),
        search("image not a string", {"image": 12345}, 422),
        search("JSON array body", [1, 2, 3], 422),
        Probe(
            "malformed JSON",
            "POST",
            "/search",
            {"content": b'{"text": "sofa", ', "headers": {"content-type": "application/json"}},
            422,
        ),
        Probe(
            "not JSON at all",
            "POST",
            "/search",
            {"content": b"\xff\xfe\x00garbage", "headers": {"content-type": "application/json"}},
            422,
        ),
        Probe(
            "deeply nested JSON",
            "POST",
            "/search",
            {
                "content": b'{"text": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
                "headers": {"content-type": "application/json"},
            },
        ),
        Probe(
            "body over the cap (declared length)",
            "POST",
            "/search",
            {
                "content": b"x" * (ctx.max_body_bytes + 1),
                "headers": {"content-type": "application/json"},
            },
            413,
        ),
        Probe(
            "body over the cap (chunked)",
            "POST",
            "/search",
            {
                "content": _chunks(ctx.max_body_bytes + 1),
                "headers": {"content-type": "application/json"},
            },
            413,
        ),
    ]


def upload_probes(ctx: ProbeContext) -> list[Probe]:
    def upload(
        name: str, data: bytes, form: dict[str, str] | None = None, expect: int | None = None
    ) -> Probe:
        files = {"image": ("photo.jpg", data, "image/jpeg")}
        return Probe(name, "POST", "/search/upload", {"files": files, "data": form or {}}, expect)

    return [
        upload("upload: non-image file", payloads.NOT_AN_IMAGE),
        upload("upload: truncated JPEG", payloads.truncated_jpeg()),
        upload("upload: empty file", b""),
        upload("upload: 1x1 image", payloads.tiny_png()),
        upload("upload: decompression bomb", payloads.png_bomb(20_000)),
        upload("upload: k = 0", payloads.photo(), {"k": "0"}, 422),
        upload(
            "upload: price_min > price_max",
            payloads.photo(),
            {"price_min": "9", "price_max": "1"},
            422,
        ),
        upload("upload: negative price", payloads.photo(), {"price_min": "-3"}, 422),
        Probe("upload: no text, no photo", "POST", "/search/upload", {"data": {"k": "5"}}),
    ]


def resource_probes(ctx: ProbeContext) -> list[Probe]:
    admin = {"X-Admin-Key": ctx.admin_key} if ctx.admin_key else {}
    user = {"X-User-Token": ctx.user_token} if ctx.user_token else {}
    listing = {"title": "Probe chair", "category": "Home & Garden / Chairs", "price": 5}
    probes = [
        Probe("unknown listing id", "GET", "/listings/no-such-listing", expect=404),
        Probe(
            "similar: unknown listing id", "GET", "/listings/no-such-listing/similar", expect=404
        ),
        Probe(
            "similar: k = 0",
            "GET",
            f"/listings/{ctx.listing_id}/similar",
            {"params": {"k": 0}},
            422,
        ),
        Probe(
            "similar: k over 100",
            "GET",
            f"/listings/{ctx.listing_id}/similar",
            {"params": {"k": 1000}},
            422,
        ),
        Probe("unknown image id", "GET", "/images/no-such-image", expect=404),
        Probe("image id with ../", "GET", "/images/..%2F..%2Fetc%2Fpasswd"),
        Probe("image id with dots", "GET", "/images/..."),
        Probe("create listing without admin key", "POST", "/listings", {"json": listing}),
        Probe(
            "create listing with a wrong admin key",
            "POST",
            "/listings",
            {"json": listing, "headers": {"X-Admin-Key": "wrong"}},
        ),
        Probe("delete listing without admin key", "DELETE", f"/listings/{ctx.listing_id}"),
        Probe(
            "event without user token",
            "POST",
            f"/users/{ctx.user_id}/events",
            {"json": {"listing_id": ctx.listing_id, "type": "view"}},
        ),
        Probe(
            "event with another user's token",
            "POST",
            "/users/someone-else/events",
            {"json": {"listing_id": ctx.listing_id, "type": "view"}, "headers": user},
            403,
        ),
        Probe("predict: empty", "POST", "/predict/category", {"json": {}}),
        Probe("predict: malformed base64", "POST", "/predict/category", {"json": {"image": "%%%"}}),
        Probe(
            "search: unknown user (no token)",
            "POST",
            "/search",
            {"json": {"text": "sofa", "user_id": "nobody-ever-seen"}},
        ),
        Probe(
            "search: user with someone else's token",
            "POST",
            "/search",
            {"json": {"text": "sofa", "user_id": "someone-else"}, "headers": user},
            403,
        ),
    ]
    if ctx.admin_key:
        probes += [
            Probe(
                "update unknown listing",
                "PUT",
                "/listings/no-such-listing",
                {"json": listing, "headers": admin},
                404,
            ),
            Probe(
                "delete unknown listing",
                "DELETE",
                "/listings/no-such-listing",
                {"headers": admin},
                404,
            ),
            Probe(
                "create listing with an empty title",
                "POST",
                "/listings",
                {"json": {**listing, "title": ""}, "headers": admin},
                422,
            ),
            Probe(
                "create listing with a ../ image id",
                "POST",
                "/listings",
                {"json": {**listing, "image_ids": ["../../etc/passwd"]}, "headers": admin},
            ),
        ]
    if ctx.user_token:
        probes += [
            Probe(
                "event for an unknown listing",
                "POST",
                f"/users/{ctx.user_id}/events",
                {"json": {"listing_id": "no-such-listing", "type": "view"}, "headers": user},
                404,
            ),
            Probe(
                "event of an unknown type",
                "POST",
                f"/users/{ctx.user_id}/events",
                {"json": {"listing_id": ctx.listing_id, "type": "like"}, "headers": user},
                422,
            ),
        ]
    return probes


def all_probes(ctx: ProbeContext) -> list[Probe]:
    return search_probes(ctx) + upload_probes(ctx) + resource_probes(ctx)


def run_probe(client: httpx.Client, probe: Probe) -> ProbeResult:
    """Send one probe; it passes on a 4xx (the expected one, if fixed) with a message."""
    response = client.request(probe.method, probe.path, **probe.request)
    try:
        detail = response.json().get("detail", "")
    except (ValueError, AttributeError):
        detail = ""
    status_ok = (
        probe.expect == response.status_code
        if probe.expect
        else (400 <= response.status_code < 500)
    )
    return ProbeResult(
        name=probe.name,
        status=response.status_code,
        detail=detail if isinstance(detail, str) else _flatten(detail),
        ok=status_ok and bool(detail),
        expect=probe.expect,
    )


def _flatten(detail: Any) -> str:
    """FastAPI's validation detail is a list of errors: keep their messages, one line."""
    if isinstance(detail, list):
        return "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
            if isinstance(e, dict)
            else str(e)
            for e in detail
        )
    return str(detail)
