"""A throwaway PostgreSQL cluster for tests and benchmarks: ``initdb`` into a temporary directory, ``pg_ctl
start`` on a free loopback port (its socket in that directory too), one database per caller, ``pg_ctl stop``.

The binaries are looked up on PATH, then in Debian's /usr/lib/postgresql/<version>/bin. PostgreSQL refuses to
run as root, so under root (CI) the cluster runs as the ``postgres`` user (or ``nobody``).
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

USER = "paperbot"


def find_binaries() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl``, or None when PostgreSQL is not installed."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(os.path.realpath(found)).parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: p.parent.parent.name)
    return versions[-1].parent if versions else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    """One running PostgreSQL server. Start with :meth:`start`; :meth:`stop` removes it and its files."""

    def __init__(self, bin_dir: Path, directory: Path, port: int, run_as: list[str]) -> None:
        self.bin_dir = bin_dir
        self.directory = directory
        self.port = port
        self._run_as = run_as
        self._names = itertools.count(1)

    @classmethod
    def start(cls, bin_dir: Path) -> Cluster:
        """initdb and start a cluster on a free loopback port (fsync off: it is thrown away)."""
        directory = Path(tempfile.mkdtemp(prefix="paperbot-pg-"))
        run_as: list[str] = []
        if os.geteuid() == 0:
            user = "postgres" if _user_exists("postgres") else "nobody"
            entry = pwd.getpwnam(user)
            os.chown(directory, entry.pw_uid, entry.pw_gid)
            run_as = ["runuser", "-u", user, "--"]
        cluster = cls(bin_dir, directory, _free_port(), run_as)
        data = directory / "data"
        cluster._run("initdb", "-D", str(data), "-U", USER, "--auth=trust", "-E", "UTF8", "--no-sync")
        options = f"-p {cluster.port} -k {directory} -c listen_addresses=127.0.0.1 -c fsync=off "
        options += "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        cluster._run("pg_ctl", "-D", str(data), "-l", str(directory / "log"), "-o", options, "-w", "start")
        return cluster

    def _run(self, tool: str, *args: str) -> None:
        command = [*self._run_as, str(self.bin_dir / tool), *args]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{tool} failed ({result.returncode}): {result.stderr.strip() or result.stdout}")

    def url(self, database: str) -> str:
        """The connection URL of one database of this cluster."""
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new, empty database; returns its URL."""
        name = f"t{next(self._names)}"
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, name)
        return self.url(name)

    def stop(self) -> None:
        """Stop the server and delete its files."""
        try:
            self._run("pg_ctl", "-D", str(self.directory / "data"), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
