#!/usr/bin/env python3
"""A throwaway PostgreSQL server for tests and benchmarks: Debian's ``postgresql`` package,
``initdb`` + ``pg_ctl`` in a temporary folder, a free port on 127.0.0.1, trust auth for one
user, removed again on stop.

As root (CI, these machines) the server runs as an unprivileged user (``postgres``, made by
the Debian package, else ``nobody``): PostgreSQL refuses to run as root. Durability is off
(fsync, synchronous_commit, full_page_writes): the server lives for one test run, and the
crash tests kill Roost's processes, never the server.

    python scripts/pgserver.py start /tmp/pg     # prints the URL; the server keeps running
    python scripts/pgserver.py stop /tmp/pg      # stops it and removes the folder
    python scripts/pgserver.py run -- CMD ...    # start, run CMD with ROOST_TEST_PG=<url>, stop

From Python: ``with PgServer() as pg: pg.url`` (``pg.new_database()`` for a fresh one).
``binaries()`` says where ``initdb`` is, or None when the package is not installed.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

USER = "roost"


def binaries() -> Path | None:
    """The folder holding initdb/pg_ctl/postgres (newest Debian version first), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version, reverse=True)
    if found:
        return Path(found[0]).parent
    which = shutil.which("initdb")
    return Path(which).resolve().parent if which else None


def _version(path: str) -> int:
    try:
        return int(Path(path).parts[-3])
    except ValueError:
        return 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _runas() -> list[str]:
    """Prefix that runs a command as an unprivileged user when we are root."""
    if os.geteuid() != 0:
        return []
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return ["runuser", "-u", name, "--"]
    raise RuntimeError("running as root and no unprivileged user (postgres, nobody) to run PostgreSQL")


class PgServer:
    """One throwaway server. ``start()`` returns self; ``stop()`` removes everything."""

    def __init__(self, folder: str | Path | None = None):
        # As root the server runs as another user, who must reach the folder: /tmp is open
        # to all, a TMPDIR under /root may not be.
        where = "/tmp" if os.geteuid() == 0 and os.path.isdir("/tmp") else None
        self.folder = Path(folder) if folder else Path(tempfile.mkdtemp(prefix="roost-pg-", dir=where))
        self.data = self.folder / "data"
        self.port = 0
        self.bin = binaries()

    @property
    def url(self) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{USER}"

    def database_url(self, name: str) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{name}"

    def _run(self, *args: str, **kw) -> subprocess.CompletedProcess:
        return subprocess.run([*_runas(), *args], check=True, capture_output=True, text=True, **kw)

    def start(self) -> PgServer:
        if self.bin is None:
            raise RuntimeError("PostgreSQL binaries not found: apt-get install postgresql")
        self.folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            user = _runas()[2]
            shutil.chown(self.folder, user, user)
            os.chmod(self.folder, 0o700)
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", USER, "--auth=trust",
                  "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")  # fmt: skip
        for attempt in range(5):
            self.port = _free_port()
            opts = (f"-c port={self.port} -c listen_addresses=127.0.0.1 "
                    f"-c unix_socket_directories={self.folder} -c fsync=off "
                    "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")  # fmt: skip
            try:
                self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", opts, "-w",
                          "-t", "60", "-l", str(self.folder / "log"), "start")  # fmt: skip
                break
            except subprocess.CalledProcessError:
                if attempt == 4:  # the port was taken between the probe and the start
                    raise RuntimeError(self.log()) from None
        self.sql(f'CREATE DATABASE "{USER}"', database="postgres")
        return self

    def sql(self, statement: str, database: str = USER) -> None:
        self._run(str(self.bin / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", USER,
                  "-d", database, "-v", "ON_ERROR_STOP=1", "-q", "-c", statement)  # fmt: skip

    def new_database(self) -> str:
        """A fresh, empty database; returns its URL."""
        name = "t" + uuid.uuid4().hex[:12]
        self.sql(f'CREATE DATABASE "{name}" TEMPLATE template0', database="postgres")
        return self.database_url(name)

    def log(self) -> str:
        try:
            return (self.folder / "log").read_text()[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.bin is not None and (self.data / "postmaster.pid").exists():
            subprocess.run([*_runas(), str(self.bin / "pg_ctl"), "-D", str(self.data), "-m",
                            "immediate", "-w", "stop"], capture_output=True)  # fmt: skip
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> PgServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _port_of(folder: Path) -> int:
    opts = (folder / "data" / "postmaster.opts").read_text()
    return int(opts.split("port=")[1].split()[0].strip("\"'"))


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("start", "stop", "run"):
        print(__doc__)
        return 2
    if argv[0] == "start":
        pg = PgServer(argv[1] if len(argv) > 1 else None).start()
        print(pg.url)
        return 0
    if argv[0] == "stop":
        pg = PgServer(argv[1])
        pg.stop()
        return 0
    cmd = argv[2:] if argv[1:2] == ["--"] else argv[1:]
    with PgServer() as pg:
        started = time.time()
        rc = subprocess.call(cmd, env={**os.environ, "ROOST_TEST_PG": pg.url})
        print(f"(PostgreSQL at {pg.url} for {time.time() - started:.0f} s, now removed)", file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
