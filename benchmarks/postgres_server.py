"""A throwaway PostgreSQL server from Debian's ``postgresql`` package: ``initdb`` + ``pg_ctl``.

Run in a temporary folder on a free loopback port with durability off (its
databases need not survive a power cut): the tests' session server
(``tests/fixtures/postgres.py``) and the propagation benchmark's, when it is
given no database. ``initdb`` refuses to run as root, so as root the server
runs as the ``postgres`` user (or ``nobody``).
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.harness import free_port

USER = "marketplace"


def postgres_bindir() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl``, newest version first; None if absent."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(str(Path(on_path).resolve().parent))
    for folder in candidates:
        if (Path(folder) / "initdb").is_file() and (Path(folder) / "pg_ctl").is_file():
            return Path(folder)
    return None


def server_account() -> pwd.struct_passwd | None:
    """Who runs the server: ourselves, or an unprivileged account when we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("running as root with neither a postgres nor a nobody account")


@dataclass
class PostgresServer:
    """A running throwaway server; ``new_database`` gives each test its own."""

    bindir: Path
    folder: Path
    port: int
    account: pwd.struct_passwd | None
    _names: Iterator[int] = field(default_factory=itertools.count)

    def url(self, database: str) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def run(self, *args: str) -> None:
        ids = (
            {}
            if self.account is None
            else {"user": self.account.pw_uid, "group": self.account.pw_gid}
        )
        done = subprocess.run(
            [str(self.bindir / args[0]), *args[1:]],
            cwd=self.folder,
            capture_output=True,
            text=True,
            check=False,
            **ids,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {done.stderr.strip() or done.stdout.strip()}")

    def start(self) -> None:
        self.run("initdb", "-D", "data", "-U", USER, "-A", "trust", "-E", "UTF8", "--no-locale")
        options = (
            f"-h 127.0.0.1 -p {self.port} -k {self.folder} -F "
            "-c full_page_writes=off -c synchronous_commit=off -c max_connections=200"
        )
        self.run("pg_ctl", "-D", "data", "-l", "server.log", "-o", options, "-w", "start")

    def stop(self) -> None:
        self.run("pg_ctl", "-D", "data", "-m", "immediate", "stop")

    def new_database(self) -> str:
        """A new empty database's URL (a template copy: tens of milliseconds)."""
        import psycopg

        name = f"test_{next(self._names)}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name} TEMPLATE template0")
        return self.url(name)


@contextmanager
def throwaway_server() -> Iterator[PostgresServer]:
    """A started server in a temporary folder, stopped and removed on leaving."""
    bindir = postgres_bindir()
    if bindir is None:
        raise FileNotFoundError("no PostgreSQL server binaries (initdb, pg_ctl)")
    account = server_account()
    folder = Path(tempfile.mkdtemp(prefix="marketplace-pg-"))  # not a 0700 tmp tree
    if account is not None:
        os.chown(folder, account.pw_uid, account.pw_gid)
    server = PostgresServer(bindir, folder, free_port(), account)
    try:
        server.start()
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
