"""Every bad input the issue lists gets a 4xx with a message through the real app.

The probes are ``benchmarks.reliability.probes``, the same list the reliability
benchmark sends over HTTP; here they go through ``TestClient`` against the
synthetic index (a private writable copy, so a probe that wrongly succeeded
could not leak into other tests).
"""

from __future__ import annotations

import pytest

from benchmarks.reliability.probes import Probe, ProbeContext, all_probes, run_probe
from tests.fixtures.api import ADMIN_KEY, token_for

USER = "probe-user"
# Names only (payloads are rebuilt per run): the parametrisation ids.
PROBE_NAMES = [
    p.name for p in all_probes(ProbeContext("x", 10, 10_000, 10_000, admin_key="k", user_token="t"))
]


@pytest.fixture(scope="module")
def probes(writable_client, api_settings, clean_synthetic) -> dict[str, Probe]:
    ctx = ProbeContext(
        listing_id=clean_synthetic.listings[0].id,
        max_text_chars=api_settings.max_text_chars,
        max_body_bytes=api_settings.max_body_bytes,
        max_image_pixels=api_settings.max_image_pixels,
        admin_key=ADMIN_KEY,
        user_id=USER,
        user_token=token_for(USER)["X-User-Token"],
    )
    return {p.name: p for p in all_probes(ctx)}


@pytest.mark.parametrize("name", PROBE_NAMES)
def test_bad_input_gets_a_4xx_with_a_message(writable_client, probes, name):
    result = run_probe(writable_client, probes[name])
    assert result.ok, (
        f"{name}: HTTP {result.status} (expected {result.expect or '4xx'}), "
        f"detail {result.detail!r}"
    )


def test_a_good_request_still_works(writable_client, clean_synthetic):
    """The probes are only meaningful if the same endpoints answer good requests."""
    listing = clean_synthetic.listings[0]
    assert writable_client.post("/search", json={"text": listing.title}).status_code == 200
    assert writable_client.get(f"/listings/{listing.id}").status_code == 200


def test_body_cap_holds_for_multipart_upload(writable_client, api_settings):
    big = b"\xff" * (api_settings.max_body_bytes + 10)
    response = writable_client.post(
        "/search/upload", files={"image": ("big.jpg", big, "image/jpeg")}
    )
    assert response.status_code == 413
    assert "cap" in response.json()["detail"]
