"""A throwaway PostgreSQL: Debian's ``initdb`` + ``pg_ctl`` in a temporary folder.

Shared by the tests (``tests/fixtures/postgres.py``: one server a session, a
database a test) and the benchmarks that measure the PostgreSQL back-end
(``benchmarks.replica_load``), so both run the same server the same way: on a free
loopback port, durability off (a scratch database need not survive a power
cut). ``initdb`` refuses to run as root, so as root the server runs as the
``postgres`` user (or ``nobody``).
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


def _server_account() -> pwd.struct_passwd | None:
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
    """A running throwaway server; ``new_database`` gives each user its own database."""

    bindir: Path
    folder: Path
    port: int
    account: pwd.struct_passwd | None
    # Commits survive an immediate stop (synchronous commit): for the restart tests.
    durable: bool = False
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
        self.resume()

    def resume(self) -> None:
        """Start the initialised server (again, after ``stop``)."""
        commit = "on" if self.durable else "off"
        options = (
            f"-h 127.0.0.1 -p {self.port} -k {self.folder} -F "
            f"-c full_page_writes=off -c synchronous_commit={commit} -c max_connections=200"
        )
        self.run("pg_ctl", "-D", "data", "-l", "server.log", "-o", options, "-w", "start")

    def stop(self, mode: str = "immediate") -> None:
        """``pg_ctl stop -m mode``: "fast" ends the sessions and shuts down cleanly,
        "immediate" drops everything as a crash would."""
        self.run("pg_ctl", "-D", "data", "-m", mode, "stop")

    def new_database(self) -> str:
        """A new empty database's URL (a template copy: tens of milliseconds)."""
        import psycopg

        name = f"test_{next(self._names)}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name} TEMPLATE template0")
        return self.url(name)


@contextmanager
def throwaway_postgres(bindir: Path, durable: bool = False) -> Iterator[PostgresServer]:
    """A server started in a new temporary folder, stopped and deleted on leaving
    (``durable``: commits survive an immediate stop)."""
    account = _server_account()
    folder = Path(tempfile.mkdtemp(prefix="marketplace-pg-"))  # not pytest's 0700 tmp tree
    if account is not None:
        os.chown(folder, account.pw_uid, account.pw_gid)
    server = PostgresServer(bindir, folder, free_port(), account, durable)
    try:
        server.start()
        yield server
        server.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
