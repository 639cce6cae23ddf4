"""Opening a store's database: a bad location is one clear line, fast, password hidden."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from indexing.store import Store, StoreUnavailable
from indexing.store_database import CONNECT_TIMEOUT_S, is_database_url, redact_url


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens once the probe closes


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://app:s3cret@db:5432/shop", "postgresql://app:***@db:5432/shop"),
        ("postgresql://app@db/shop", "postgresql://app@db/shop"),
        (
            "postgres://db/shop?password=s3cret&sslmode=require",
            "postgres://db/shop?password=***&sslmode=require",
        ),
    ],
)
def test_a_url_is_shown_without_its_password(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_only_postgres_urls_are_databases(tmp_path: Path) -> None:
    assert is_database_url("postgresql://db/shop") and is_database_url("postgres://db/shop")
    assert not is_database_url(tmp_path / "catalogue.sqlite")
    assert not is_database_url(str(tmp_path / "catalogue.sqlite"))


def test_an_unreachable_database_is_one_line_naming_it(tmp_path: Path) -> None:
    port = closed_port()
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as caught:
        Store(f"postgresql://app:s3cret@127.0.0.1:{port}/shop")
    assert time.monotonic() - started < CONNECT_TIMEOUT_S + 1
    message = str(caught.value)
    assert f"postgresql://app:***@127.0.0.1:{port}/shop" in message
    assert "s3cret" not in message and "\n" not in message


def test_a_sqlite_path_that_cannot_be_a_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "folder.sqlite").mkdir()
    with pytest.raises(StoreUnavailable, match="cannot open the catalogue store"):
        Store(tmp_path / "folder.sqlite")


def test_an_unknown_database_on_a_live_server_is_one_line(postgres_server) -> None:
    with pytest.raises(StoreUnavailable, match="does not exist"):
        Store(postgres_server.url("no_such_database"))
