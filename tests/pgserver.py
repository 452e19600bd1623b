"""A throwaway PostgreSQL server on loopback, for the tests and the claim benchmark.

The server is Debian's own ``postgres`` binary (``make postgres`` installs the package when it is
missing), started in a temporary directory on a free 127.0.0.1 port with trust authentication,
and removed afterwards: nothing is left behind and no system cluster is touched. PostgreSQL
refuses to run as root, so under root the server runs as the ``postgres`` user the package
creates. Durability settings are off: a test server's data does not outlive the run.

``CAMID_TEST_POSTGRES_URL`` points the tests at an existing server instead (its user needs
CREATEDB); ``CAMID_PG_BINDIR`` names the directory of ``initdb`` and ``pg_ctl``.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, create_engine, text

SERVER_SETTINGS = ("-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                   "-c max_connections=200 -c shared_buffers=128MB")


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries here (install Debian's ``postgresql``: ``make postgres``)."""


def find_bindir() -> Path:
    """The newest installed server's bin directory (Debian keeps one per major version)."""
    if os.environ.get("CAMID_PG_BINDIR"):
        return Path(os.environ["CAMID_PG_BINDIR"])
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise PostgresUnavailable("no PostgreSQL server binaries (initdb) found: run `make postgres` "
                              "or install Debian's postgresql package")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def temporary_server(user: str = "camid") -> Iterator[str]:
    """Start a fresh server; yield its admin URL (database ``postgres``); stop and delete it."""
    bindir = find_bindir()
    run_as = "postgres" if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="camid-pg-"))
    if run_as:
        try:
            entry = pwd.getpwnam(run_as)
        except KeyError:
            shutil.rmtree(root, ignore_errors=True)
            raise PostgresUnavailable("PostgreSQL refuses to run as root and there is no "
                                      "'postgres' user to run it as") from None
        os.chown(root, entry.pw_uid, entry.pw_gid)
    data, port = root / "data", free_port()
    try:
        _run([bindir / "initdb", "-D", data, "-U", user, "--auth=trust", "-E", "UTF8",
              "--locale=C", "--no-sync"], run_as)
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} {SERVER_SETTINGS}"
        _run([bindir / "pg_ctl", "-D", data, "-l", root / "server.log", "-o", options, "-w",
              "-t", "60", "start"], run_as)
        try:
            yield f"postgresql+psycopg://{user}@127.0.0.1:{port}/postgres"
        finally:
            _run([bindir / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"], run_as)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _run(cmd: list[object], user: str | None) -> None:
    """Run a server tool, as ``user`` when given; its output goes into the error if it fails."""
    done = subprocess.run([str(c) for c in cmd], user=user, capture_output=True, text=True,
                          cwd="/", check=False)
    if done.returncode != 0:
        raise PostgresUnavailable(f"{Path(str(cmd[0])).name} failed ({done.returncode}): "
                                  f"{(done.stderr or done.stdout).strip()[-2000:]}")


def database_url(admin_url: str, name: str) -> str:
    """The URL of database ``name`` on the server of ``admin_url``."""
    return admin_url.rsplit("/", 1)[0] + "/" + name


PREFIX = "camid_test_"  # every database the tests and benchmarks make, so none of yours is touched


def create_database(admin_url: str, name: str, template: str | None = None) -> str:
    """Create database ``PREFIX + name`` (a copy of ``PREFIX + template`` when given), replacing
    one left by an earlier run; return its URL."""
    clause = f' TEMPLATE "{PREFIX}{template}"' if template else ""
    with _admin(admin_url) as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{PREFIX}{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{PREFIX}{name}"{clause}'))
    return database_url(admin_url, PREFIX + name)


def drop_test_databases(admin_url: str) -> None:
    """Drop every database ``create_database`` made (for a server that outlives the run)."""
    with _admin(admin_url) as conn:
        names = conn.execute(text("SELECT datname FROM pg_database WHERE datname LIKE :p"),
                             {"p": PREFIX + "%"}).scalars().all()
        for name in names:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def _admin(admin_url: str) -> Iterator[Connection]:
    """A connection outside transactions (CREATE and DROP DATABASE refuse to run in one)."""
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()
