"""Run a local Label Studio server, or remember a remote one: ``whyset studio up|down|status|connect``.

Label Studio pins old releases of libraries whyset also uses (pyarrow<25, openai<2, pytz<2023), so the
server lives in its own virtual env (:func:`whyset.paths.studio_venv`, shared by every corpus); the project
venv only has ``label-studio-sdk``. A studio home (:func:`whyset.paths.studio_home`) holds one server's data
dir, state file, log and annotator accounts. Facts this module relies on were measured here
(../shared/docs/label-studio.md): the legacy API token must be enabled before the *first* start of a data
dir, the server silently moves to another port when its port is busy (so we pick a free one and poll
exactly that port), and the first start of an empty data dir spends ~35 s in migrations, while a copy of an
already-migrated dir starts in ~5 s (``--template`` uses that).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.error import URLError
from urllib.parse import urlparse
from urllib.request import urlopen

from whyset.errors import ServerUnreachable, WhysetError
from whyset.paths import LABEL_STUDIO_VERSION, studio_venv

STATE_FILE = "server.json"
ADMIN_EMAIL = "admin@whyset.local"
# Unprefixed names Label Studio also reads; a stray HOST or PORT in the caller's env would redirect it.
_UNSET = ("HOST", "PORT", "DEBUG", "USERNAME", "PASSWORD")


@dataclass(frozen=True)
class Connection:
    """Where the server is and how to authenticate; ``pid`` is None for a remote server."""

    url: str
    token: str
    server_id: str
    pid: int | None = None
    admin_email: str | None = None
    admin_password: str | None = None
    database: str = "sqlite"

    @property
    def remote(self) -> bool:
        """A server whyset did not start (``studio connect``); ``down`` only forgets it."""
        return self.pid is None


def install(venv: Path | None = None) -> Path:
    """Create the server's own venv with the pinned release (idempotent); returns the ``label-studio`` path.

    Pinned, because an unpinned install silently backtracks to 1.11 or 1.19 when another pin conflicts.
    """
    venv = venv or studio_venv()
    binary = venv / "bin" / "label-studio"
    stamp = venv / f".label-studio-{LABEL_STUDIO_VERSION}"
    if stamp.exists() and binary.exists():
        return binary
    steps = [
        [sys.executable, "-m", "venv", str(venv)],
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
         f"label-studio=={LABEL_STUDIO_VERSION}"],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise WhysetError(f"installing label-studio=={LABEL_STUDIO_VERSION} into {venv} failed: {tail[0]}")
    stamp.touch()
    return binary


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(data_dir: Path, token: str, password: str, database_url: str | None) -> dict[str, str]:
    """Environment for a headless, pre-provisioned server with a legacy API token for the admin."""
    env = {k: v for k, v in os.environ.items() if k not in _UNSET}
    env.update({
        "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),
        "LABEL_STUDIO_USERNAME": ADMIN_EMAIL,
        "LABEL_STUDIO_PASSWORD": password,
        "LABEL_STUDIO_USER_TOKEN": token,
        "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
        "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",
        "SENTRY_DSN": "", "FRONTEND_SENTRY_DSN": "",
        "LATEST_VERSION_CHECK": "false", "COLLECT_ANALYTICS": "false",
        "HOME": str(data_dir.parent),
    })
    if database_url:
        env.update(postgres_env(database_url))
    return env


def postgres_env(database_url: str) -> dict[str, str]:
    """``postgresql://user:pw@host:port/name`` as Label Studio's settings (POSTGRE_, not POSTGRES_)."""
    parsed = urlparse(database_url)
    if parsed.scheme not in ("postgres", "postgresql") or not parsed.path.strip("/"):
        raise WhysetError(f"--database {database_url!r}: expected postgresql://user:password@host:port/dbname")
    return {
        "DJANGO_DB": "postgresql",
        "POSTGRE_NAME": parsed.path.strip("/"),
        "POSTGRE_USER": parsed.username or "postgres",
        "POSTGRE_PASSWORD": parsed.password or "",
        "POSTGRE_HOST": parsed.hostname or "127.0.0.1",
        "POSTGRE_PORT": str(parsed.port or 5432),
    }


def up(home: Path, port: int | None = None, template: Path | None = None, database_url: str | None = None,
       timeout: float = 180.0, venv: Path | None = None) -> Connection:
    """Start a local server (or return the one already running from this home) and wait for its API.

    The admin's token and password are generated once per data dir and kept in ``server.json`` (mode 600),
    because the legacy token is fixed at the first start of a data dir.
    """
    current = status(home)
    if current is not None:
        if current.remote:
            raise WhysetError(f"{home / STATE_FILE}: connected to remote {current.url}; run `whyset studio down` first")
        return current
    binary = install(venv)
    data_dir = home / "data"
    if template is not None and not data_dir.exists():
        shutil.copytree(template, data_dir)
    secrets_file = data_dir / "whyset-admin.json"
    if secrets_file.exists():
        admin = json.loads(secrets_file.read_text())
    else:
        # server_id names this data dir for good: the store keys projects by it, not by the URL, because a
        # restarted local server may get another port.
        admin = {"token": secrets.token_hex(20), "password": secrets.token_urlsafe(16),
                 "server_id": f"local-{secrets.token_hex(6)}"}
        data_dir.mkdir(parents=True, exist_ok=True)
        write_private(secrets_file, admin)
    port = port or free_port()
    log = (home / "server.log").open("ab")
    process = subprocess.Popen(
        [str(binary), "start", "--no-browser", "--internal-host", "127.0.0.1", "-p", str(port)],
        env=server_env(data_dir, admin["token"], admin["password"], database_url),
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
    )
    connection = Connection(url=f"http://127.0.0.1:{port}", token=admin["token"], server_id=admin["server_id"],
                            pid=process.pid,
                            admin_email=ADMIN_EMAIL, admin_password=admin["password"],
                            database="postgresql" if database_url else "sqlite")
    try:
        _wait_until_up(connection.url, process, timeout, home / "server.log")
    except BaseException:
        _terminate(process.pid)
        raise
    write_private(home / STATE_FILE, asdict(connection))
    return connection


def connect(url: str, token: str, home: Path) -> Connection:
    """Remember a remote server; the token is checked now so a typo fails here, not mid-push."""
    from whyset.annotation.client import StudioClient

    connection = Connection(url=url.rstrip("/"), token=token, server_id=url.rstrip("/"))
    StudioClient(connection).whoami()
    home.mkdir(parents=True, exist_ok=True)
    write_private(home / STATE_FILE, asdict(connection))
    return connection


def status(home: Path) -> Connection | None:
    """The remembered connection, or None; a local server whose process is gone is forgotten."""
    state = home / STATE_FILE
    if not state.exists():
        return None
    connection = Connection(**json.loads(state.read_text()))
    if connection.pid is not None and not _alive(connection.pid):
        state.unlink()
        return None
    return connection


def down(home: Path) -> Connection | None:
    """Stop the local server started from this home (by its PID) or forget a remote one."""
    connection = status(home)
    if connection is None:
        return None
    if connection.pid is not None:
        _terminate(connection.pid)
    (home / STATE_FILE).unlink(missing_ok=True)
    return connection


def _wait_until_up(url: str, process: subprocess.Popen, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise WhysetError(f"Label Studio exited with code {process.returncode} during start-up: {tail[0]} "
                              f"(log: {log})")
        try:
            with urlopen(f"{url}/api/version/", timeout=2) as response:
                if response.status == 200:
                    return
        except (URLError, OSError):
            pass
        time.sleep(0.5)
    raise ServerUnreachable(f"Label Studio did not answer at {url} within {timeout:.0f} s (log: {log})")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of this very process counts as gone
        return os.waitpid(pid, os.WNOHANG) == (0, 0)
    except ChildProcessError:
        return True


def _terminate(pid: int, grace: float = 20.0) -> None:
    """SIGTERM the server's process group (it was started in its own session), then SIGKILL after grace."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not _alive(pid):
                return
            time.sleep(0.2)


def write_private(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2))
