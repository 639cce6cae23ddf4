"""A database URL that is wrong or unreachable at start: one line, password hidden, exit 2."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from scripts.cli import main


@pytest.fixture
def unreachable_url(monkeypatch: pytest.MonkeyPatch) -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql://shop:s3cret@127.0.0.1:{port}/catalogue"
    monkeypatch.setenv("MARKETPLACE_DATABASE_URL", url)
    return url


def test_serve_refuses_an_unreachable_database(
    unreachable_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "manifest.json").write_text("{}")  # the store is opened before the model loads
    monkeypatch.setenv("MARKETPLACE_MODEL_DIR", str(model))
    assert main(["serve", "--data", str(tmp_path)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert unreachable_url.replace(":s3cret@", ":***@") in line and "s3cret" not in line


@pytest.mark.parametrize("wrong", ["no such database", "not a port"])
def test_serve_refuses_a_wrong_database_url(
    wrong: str,
    postgres_server,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys,
) -> None:
    """A server that answers, with no such database; a URL that cannot be a location."""
    url = postgres_server.url("no_such_database").replace("marketplace@", "marketplace:s3cret@")
    if wrong == "not a port":
        url = f"postgresql://shop:s3cret@127.0.0.1:{postgres_server.port}x/catalogue"
    monkeypatch.setenv("MARKETPLACE_DATABASE_URL", url)
    model = tmp_path / "model"
    model.mkdir()
    (model / "manifest.json").write_text("{}")
    monkeypatch.setenv("MARKETPLACE_MODEL_DIR", str(model))
    assert main(["serve", "--data", str(tmp_path)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert url.replace(":s3cret@", ":***@") in line and "s3cret" not in line
    assert ("does not exist" if wrong == "no such database" else "port") in line


def test_reindex_refuses_an_unreachable_database(
    unreachable_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from multimodal.data.catalogue import LISTINGS_FILE
    from multimodal.workspace import Workspace

    monkeypatch.setenv("MARKETPLACE_HOME", str(tmp_path / "home"))
    workspace = Workspace.for_data(tmp_path / "data")
    for needed in (workspace.clean_dir / LISTINGS_FILE, workspace.model_dir / "manifest.json"):
        needed.parent.mkdir(parents=True, exist_ok=True)
        needed.write_text("")  # the store is opened before either is read
    assert main(["reindex", "--data", str(tmp_path / "data"), "--quiet"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "postgresql://shop:***@127.0.0.1" in line and "s3cret" not in line


def test_store_copy_moves_a_sqlite_store_into_postgres(
    tmp_path: Path, postgres_url: str, capsys
) -> None:
    from indexing.store import Store
    from multimodal.data.catalogue import Listing

    source = tmp_path / "catalogue.sqlite"
    with Store(source) as store:
        fid = store.upsert_listing(Listing("x", "Lamp", "", 5.0, "York", ("Home",), ()))
    assert main(["store", "copy", str(source), postgres_url]) == 0
    assert "1 listings" in capsys.readouterr().out
    with Store(postgres_url) as copy:
        assert copy.faiss_id("x") == fid
    assert main(["store", "copy", str(source), postgres_url]) == 2  # not into a full store
    assert "already holds listings" in capsys.readouterr().err
