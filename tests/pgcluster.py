"""A throw-away PostgreSQL 15 cluster for the tests and benchmarks: initdb in a temporary folder, postgres on a
free loopback port, stopped by its PID.

initdb and pg_ctl refuse to run as root, so as root they run as the ``postgres`` OS user (``runuser``) and the
folder is handed to that user. Clients connect over TCP to 127.0.0.1 with a password (scram-sha-256: the way
a production Label Studio connects); the superuser also has a unix socket inside the folder, for set-up.
Durability is off (fsync, synchronous commit): the cluster lives for one test session.

Two facts measured here shape the code: ``pg_ctl`` daemonizes the postmaster, so once it exits it stays a
zombie until PID 1 reaps it (1.5-2 s): a zombie counts as stopped. And a copy of a stopped cluster's data
folder starts in ~0.2 s, against ~60 s for Label Studio's migrations on an empty database, so a cluster
holding whyset's migrated template database is kept between sessions (:func:`cached_cluster`).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock

from whyset.processes import free_port

PG_BIN = Path(os.environ.get("WHYSET_PG_BIN", "/usr/lib/postgresql/15/bin"))
OS_USER = "postgres"


class PgError(RuntimeError):
    pass


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class PgCluster:
    """One cluster in a temporary folder. ``data_from`` starts from a copy of a stopped cluster's data folder
    instead of running initdb."""

    def __init__(self, data_from: Path | None = None, start_timeout: float = 60.0):
        self.root = Path(tempfile.mkdtemp(prefix="whyset-pg-"))
        self.data_dir, self.socket_dir = self.root / "data", self.root / "sock"
        self.log = self.root / "postgres.log"
        self.port: int | None = None
        self.pid: int | None = None
        self.start_timeout = start_timeout
        self.socket_dir.mkdir()
        if os.geteuid() == 0:
            owner = pwd.getpwnam(OS_USER)
            for path in (self.root, self.socket_dir):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        if data_from is not None:
            subprocess.run(["cp", "-a", str(data_from), str(self.data_dir)], check=True)
            (self.data_dir / "postmaster.pid").unlink(missing_ok=True)
        else:
            self._initdb()

    def _run(self, argv: list[str], as_owner: bool = True, check: bool = True) -> subprocess.CompletedProcess:
        if as_owner and os.geteuid() == 0:
            argv = ["runuser", "-u", OS_USER, "--", *argv]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")} | {"LC_ALL": "C"}
        done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=self.root, check=False)
        if check and done.returncode != 0:
            raise PgError(f"{Path(argv[-1] if as_owner else argv[0]).name}: {(done.stderr or done.stdout).strip()[-500:]}")
        return done

    def _initdb(self) -> None:
        self._run([str(PG_BIN / "initdb"), "-D", str(self.data_dir), "-U", "postgres", "-E", "UTF8", "--locale=C",
                   "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync"])
        (self.data_dir / "pg_hba.conf").write_text("local all postgres trust\n"
                                                   "host all all 127.0.0.1/32 scram-sha-256\n")
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("listen_addresses = '127.0.0.1'\nfsync = off\nsynchronous_commit = off\n"
                       "full_page_writes = off\nmax_connections = 200\n")

    # -- life cycle ---------------------------------------------------------------------------------
    def start(self) -> PgCluster:
        """Start on a free port (another, if a parallel process took it first) and wait until it is ready."""
        for _ in range(5):
            self.port = free_port()
            self.log.unlink(missing_ok=True)
            self._run([str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log), "-W",
                       "-o", f"-p {self.port} -k {self.socket_dir}", "start"])
            if self._wait_ready():
                self.pid = int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
                return self
        raise PgError(f"postgres did not start: {self.log.read_text(errors='replace')[-500:]}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            log = self.log.read_text(errors="replace") if self.log.exists() else ""
            if "could not bind" in log or "Address already in use" in log:
                return False
            pid_file = self.data_dir / "postmaster.pid"
            lines = pid_file.read_text().splitlines() if pid_file.exists() else []
            if len(lines) >= 8 and lines[7].strip() == "ready":
                return True
            if "FATAL" in log:
                raise PgError(f"postgres failed to start: {log[-500:]}")
            time.sleep(0.05)
        raise PgError(f"postgres not ready on 127.0.0.1:{self.port} within {self.start_timeout:.0f} s")

    def stop(self) -> None:
        """Fast shutdown by PID (SIGINT), then immediate (SIGQUIT), then SIGKILL."""
        if self.pid is None:
            return
        for sig, wait in ((signal.SIGINT, 30.0), (signal.SIGQUIT, 10.0), (signal.SIGKILL, 5.0)):
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                break
            if _wait_gone(self.pid, wait):
                break
        self.pid = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    # -- set-up -------------------------------------------------------------------------------------
    def psql(self, statement: str) -> None:
        """One statement as the superuser, over the socket in the cluster's folder."""
        self._run([str(PG_BIN / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", str(self.socket_dir),
                   "-p", str(self.port), "-U", "postgres", "-d", "postgres", "-c", statement], as_owner=False)

    def create_role(self, name: str, password: str) -> None:
        """A login role that may create databases: what whyset needs to give each annotator's server one."""
        self.psql(f"CREATE ROLE {_ident(name)} LOGIN CREATEDB PASSWORD {_literal(password)}")

    def url(self, user: str, password: str, database: str) -> str:
        return f"postgresql://{user}:{password}@127.0.0.1:{self.port}/{database}"

    def save(self, dest: Path) -> None:
        """Copy the (stopped) data folder to ``dest`` atomically, for :class:`PgCluster` ``data_from``."""
        self.stop()
        partial = dest.with_name(dest.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        subprocess.run(["cp", "-a", str(self.data_dir), str(partial)], check=True)
        partial.rename(dest)


def cached_cluster(cache: Path, prepare: Callable[[PgCluster], None]) -> PgCluster:
    """A started cluster copied from ``cache``; the first caller (under a file lock, so parallel test
    workers wait for one build) makes the cache: initdb, ``prepare(cluster)``, stop, copy."""
    with FileLock(str(cache) + ".lock"):
        if not (cache / "PG_VERSION").exists():
            first = PgCluster().start()
            try:
                prepare(first)
                first.save(cache)
            finally:
                first.remove()
    return PgCluster(data_from=cache).start()


def _wait_gone(pid: int, timeout: float) -> bool:
    """The postmaster is not our child (pg_ctl daemonized it): gone, or a zombie waiting for PID 1, is done."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError, IndexError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.02)
    return False
