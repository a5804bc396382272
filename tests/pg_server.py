"""A throwaway PostgreSQL server on 127.0.0.1 for tests, in its own temp folder.

Usage::

    with PostgresServer() as server:                 # initdb + postgres, password authentication
        url = server.create_database()               # a fresh, empty place for one test's tables (no password)
        db = StateDB.open_postgres(url, password=PASSWORD)

The server binaries are Debian's ``postgresql`` package (``/usr/lib/postgresql/<n>/bin``),
or whatever ``$PG_BINDIR`` or ``PATH`` provides.  PostgreSQL refuses to run as root, so
when the tests run as root the server runs as ``nobody`` in a folder given to that user.
The server listens on 127.0.0.1 only, on a free port; ``stop`` ends it (the process this
module started, by its id) and removes the folder.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

USER = "bot"
PASSWORD = "pg-test-password-never-logged"


def find_bindir() -> Path | None:
    """The folder holding ``initdb`` and ``postgres``, or None when PostgreSQL is not installed."""
    candidates = [os.environ.get("PG_BINDIR", "")]
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(str(Path(on_path).resolve().parent))
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True)
    for folder in candidates:
        if folder and (Path(folder) / "initdb").is_file() and (Path(folder) / "postgres").is_file():
            return Path(folder)
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    def __init__(self, bindir: Path | None = None):
        self.bindir = bindir or find_bindir()
        if self.bindir is None:
            raise RuntimeError("PostgreSQL server binaries not found: apt-get install postgresql, or set PG_BINDIR")
        self.port = 0
        self.root: Path | None = None
        self._process: subprocess.Popen | None = None
        self._databases = 0

    def __enter__(self) -> "PostgresServer":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _as_server_user(self) -> dict:
        """Popen arguments that drop root to ``nobody`` (PostgreSQL will not run as root)."""
        if os.geteuid() != 0:
            return {}
        nobody = pwd.getpwnam("nobody")
        return {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}

    def start(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="docqa-pg-"))
        data = self.root / "data"
        pwfile = self.root / "pwfile"
        pwfile.write_text(PASSWORD + "\n")
        drop = self._as_server_user()
        if drop:
            for path in (self.root, pwfile):
                os.chown(path, drop["user"], drop["group"])
        log = open(self.root / "server.log", "wb")
        try:
            subprocess.run(
                [str(self.bindir / "initdb"), "-D", str(data), "-U", USER, f"--pwfile={pwfile}",
                 "--auth=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync"],
                check=True, stdout=log, stderr=subprocess.STDOUT, cwd=self.root, **drop,
            )
            self.port = free_port()
            self._process = subprocess.Popen(
                [str(self.bindir / "postgres"), "-D", str(data), "-p", str(self.port),
                 "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.root}",
                 # A test server: durability is not what is tested here, speed is welcome.
                 "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                 "-c", "max_connections=200"],
                stdout=log, stderr=subprocess.STDOUT, cwd=self.root, **drop,
            )
        finally:
            log.close()
        self._wait_ready()

    def _wait_ready(self, timeout: float = 30.0) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(f"postgres exited with {self._process.returncode}: {self.log_tail()}")
            try:
                psycopg.connect(self.url("postgres"), password=PASSWORD, connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"postgres did not accept connections: {self.log_tail()}") from None
                time.sleep(0.1)

    def log_tail(self) -> str:
        try:
            return (self.root / "server.log").read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def url(self, database: str) -> str:
        """A connection URL without the password (it goes separately, as the bot's config does)."""
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A URL whose tables start empty: a new schema of the ``postgres`` database, made the search path.

        (A schema takes milliseconds where CREATE DATABASE takes most of a second.)
        """
        import psycopg

        self._databases += 1
        schema = f"test{self._databases}"
        with psycopg.connect(self.url("postgres"), password=PASSWORD, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        return self.url("postgres") + f"?options=-csearch_path%3D{schema}"

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(2)  # SIGINT: PostgreSQL's "fast" shutdown
            try:
                self._process.wait(30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(10)
        self._process = None
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None
