"""``api.security``: per-user tokens and photo paths."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from api.domain_errors import BadImageId
from api.errors import InputError
from api.errors import status_of as http_status
from api.security import check_user_token, safe_image_path, user_token

SECRET = SecretStr("token-secret")


def status_of(call, *args) -> int | None:
    try:
        call(*args)
    except InputError as exc:
        assert exc.message
        return exc.status
    return None


def test_user_tokens_are_per_user_and_per_secret():
    token = user_token(SECRET, "alice")
    assert token == user_token(SECRET, "alice")
    assert token != user_token(SECRET, "bob")
    assert token != user_token(SecretStr("other"), "alice")
    assert status_of(check_user_token, SECRET, "alice", token) is None
    assert status_of(check_user_token, SECRET, "bob", token) == 403
    assert status_of(check_user_token, SECRET, "alice", None) == 401
    assert status_of(check_user_token, None, "alice", token) == 403


def test_issuing_a_token_without_a_secret_fails_loudly():
    with pytest.raises(ValueError, match="secret"):
        user_token(None, "alice")


@pytest.mark.parametrize(
    "image_id",
    [
        "../secret",
        "..",
        "a/b",
        "a\\b",
        "%2e%2e%2fetc",
        "x.jpg",
        "",
        "a" * 129,
        "/etc/passwd",
        "ok\x00",
        "..%2f",
    ],
)
def test_image_ids_that_could_escape_are_refused(tmp_path, image_id):
    with pytest.raises(BadImageId) as info:
        safe_image_path(tmp_path, image_id)
    assert http_status(info.value) == 400


def test_plain_image_id_resolves_inside_the_folder(tmp_path):
    assert safe_image_path(tmp_path, "912bb259-3ad9") == (tmp_path / "912bb259-3ad9.jpg").resolve()


def test_symlink_out_of_the_folder_is_refused(tmp_path):
    outside = tmp_path / "outside.jpg"
    outside.write_bytes(b"x")
    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "planted.jpg").symlink_to(outside)
    with pytest.raises(BadImageId):
        safe_image_path(folder, "planted")


def test_user_token_cli_prints_the_token(monkeypatch, capsys):
    from scripts.cli import main

    monkeypatch.setenv("MARKETPLACE_USER_TOKEN_SECRET", SECRET.get_secret_value())
    assert main(["user-token", "alice"]) == 0
    assert capsys.readouterr().out.strip() == user_token(SECRET, "alice")


def test_user_token_cli_without_a_secret_is_a_one_line_error(monkeypatch, capsys):
    from scripts.cli import main

    monkeypatch.delenv("MARKETPLACE_USER_TOKEN_SECRET", raising=False)
    assert main(["user-token", "alice"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "MARKETPLACE_USER_TOKEN_SECRET" in err
