"""One local Label Studio server: its venv, its data dir, its process.

whyset runs one server per annotator (see :mod:`whyset.annotation.studio` for why), so starting a server
must be cheap and every server must be its own: a migrated *template* data dir is built once per machine
(the first start of an empty data dir spends 35-170 s in migrations) and each server starts from a copy of it
(about 5-15 s), with an identity of its own: a new Django secret key (the template's ``.env`` is not copied,
or a session or JWT made on one copy would log in on another), a new admin API token (reset through the API at
the copy's first start) and a new ``server_id``, the name the corpus store keys its projects by.

Label Studio pins old releases of libraries whyset also uses (pyarrow<25, openai<2, pytz<2023), so the
server lives in its own virtual env (:func:`whyset.paths.studio_venv`). Facts relied on were measured here
(../shared/docs/label-studio.md): the legacy API token must be enabled before the *first* start of a data dir,
and the server silently moves to another port when its port is busy (so we pick a free one and poll exactly
that port). Everything a server writes is owner-only (umask 077): its database holds every user's token.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.error import URLError
from urllib.request import Request, urlopen

import psutil
from filelock import FileLock

from whyset.annotation import postgres
from whyset.annotation.postgres import Database
from whyset.errors import BadInput
from whyset.paths import LABEL_STUDIO_VERSION, studio_postgres_templates, studio_template, studio_venv
from whyset.processes import free_port, install_venv, same_process, terminate, wait_until_up

ADMIN_EMAIL = "admin@whyset.local"
IDENTITY_FILE = "whyset-server.json"  # in a data dir: its server_id, admin token and where its database is
CLAIM_FILE = "database.json"  # in a server dir: the PostgreSQL database this server created for itself
# Unprefixed names Label Studio also reads; a stray HOST or PORT in the caller's env would redirect it.
_UNSET = ("HOST", "PORT", "DEBUG", "USERNAME", "PASSWORD")
PRIVATE = 0o077  # umask: files 0600, folders 0700


@dataclass(frozen=True)
class Connection:
    """Where a server is and how to authenticate. ``pid`` and ``started`` (the process's start time) are set
    for a server whyset started; a remote one (``studio connect``) has neither."""

    url: str
    token: str
    server_id: str
    pid: int | None = None
    started: float | None = None
    data_dir: str | None = None
    database: str = "sqlite"

    @property
    def remote(self) -> bool:
        return self.pid is None

    def as_dict(self) -> dict:
        return asdict(self)


def install(venv: Path | None = None) -> Path:
    """Create the server's own venv with the pinned release (idempotent); returns the ``label-studio`` path.

    Pinned, because an unpinned install silently backtracks to 1.11 or 1.19 when another pin conflicts.
    """
    venv = venv or studio_venv()
    binary = venv / "bin" / "label-studio"
    install_venv(venv, f"label-studio=={LABEL_STUDIO_VERSION}", venv / f".label-studio-{LABEL_STUDIO_VERSION}", binary)
    return binary


def server_env(data_dir: Path, token: str, database_url: str | None) -> dict[str, str]:
    """Environment for a headless, pre-provisioned server with a legacy API token for the admin. The admin's
    password is random and kept nowhere: whyset works through the token (``studio admin-login`` sets one)."""
    env = {k: v for k, v in os.environ.items() if k not in _UNSET}
    env.update({
        "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),
        "LABEL_STUDIO_USERNAME": ADMIN_EMAIL,
        "LABEL_STUDIO_PASSWORD": secrets.token_urlsafe(24),
        "LABEL_STUDIO_USER_TOKEN": token,
        "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
        "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",
        "LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED": "false",
        "SENTRY_DSN": "", "FRONTEND_SENTRY_DSN": "",
        "LATEST_VERSION_CHECK": "false", "COLLECT_ANALYTICS": "false",
        "HOME": str(data_dir.parent),
    })
    settings = Path(__file__).with_name("label_studio_settings")  # Label Studio's settings, files owner-only
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(settings), env.get("PYTHONPATH")]))
    env["DJANGO_SETTINGS_MODULE"] = "whyset_label_studio_settings"
    if database_url:
        env.update(postgres_env(database_url))
    return env


def postgres_env(database_url: str) -> dict[str, str]:
    """``postgresql://user:pw@host:port/name`` as Label Studio's settings (POSTGRE_, not POSTGRES_)."""
    db = Database.parse(database_url)
    return {"DJANGO_DB": "postgresql", "POSTGRE_NAME": db.name, "POSTGRE_USER": db.user,
            "POSTGRE_PASSWORD": db.password, "POSTGRE_HOST": db.host, "POSTGRE_PORT": str(db.port)}


def migrated_template(venv: Path | None = None, timeout: float = 600.0) -> Path:
    """A data dir that has been through Label Studio's first-start migrations (built once per machine, under
    a file lock so parallel processes wait for one build). Servers start from copies of it."""
    template = studio_template()
    ready = template / ".whyset-template-ready"
    template.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(template) + ".lock"):
        if not ready.exists():
            shutil.rmtree(template, ignore_errors=True)
            token = secrets.token_hex(20)
            connection = _run(template / "data", token, f"template-{secrets.token_hex(4)}", None, None, timeout, venv)
            stop(connection)
            write_private(template / "data" / IDENTITY_FILE, {"token": token})
            ready.touch()
    return template / "data"


def migrated_template_database(database_url: str, venv: Path | None = None, timeout: float = 600.0
                               ) -> tuple[str, str]:
    """(name, admin token) of a migrated template database on the PostgreSQL server of ``database_url``, made
    once (under a file lock) and recorded in :func:`whyset.paths.studio_postgres_templates`.

    The admin user and its token live in the database, so every clone's admin starts with the template's
    token (``LABEL_STUDIO_USER_TOKEN`` is ignored for an existing user): the record keeps it. The template's
    name carries a hash of the token, so a record can only ever match the database it was made with; a
    template made elsewhere (unknown token) is left alone and another one made."""
    db = Database.parse(database_url)
    records_path = studio_postgres_templates()
    records_path.parent.mkdir(parents=True, exist_ok=True)
    cluster = postgres.Cluster(db, venv)
    with FileLock(str(records_path) + ".lock"):
        records = json.loads(records_path.read_text()) if records_path.exists() else {}
        for name, token in records.items():
            if _template_name(token) == name and cluster.exists(name):
                return name, token
        token = secrets.token_hex(20)
        name = _template_name(token)
        cluster.create(name)
        scratch = Path(tempfile.mkdtemp(prefix="whyset-pg-template-", dir=records_path.parent))
        try:
            connection = _run(scratch / "data", token, f"template-{name}", db.renamed(name).url, None, timeout, venv)
            stop(connection)
        except BaseException:
            cluster.drop(name)
            raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        write_private(records_path, records | {name: token})
    return name, token


def _template_name(token: str) -> str:
    return f"{postgres.TEMPLATE_PREFIX}{hashlib.sha256(token.encode()).hexdigest()[:12]}"


def start(server_dir: Path, database_url: str | None = None, port: int | None = None, timeout: float = 180.0,
          venv: Path | None = None) -> Connection:
    """Start the server whose data lives in ``server_dir/data`` (made from the template on first use) and wait
    until its API answers with this server's own admin token.

    On SQLite the data dir holds the database: a fresh server starts from a copy of the migrated data dir. On
    PostgreSQL its database is cloned from the migrated template database, and the data dir starts empty."""
    data_dir = server_dir / "data"
    identity_file = data_dir / IDENTITY_FILE
    where = Database.parse(database_url).where if database_url else "sqlite"
    fresh = not identity_file.exists()
    if fresh:
        shutil.rmtree(data_dir, ignore_errors=True)
        _private_dir(server_dir)
        if database_url:
            token = _clone_database(server_dir, database_url, venv)
            _private_dir(data_dir)
        else:
            template = migrated_template(venv)
            # the template is owner-only, and copying keeps modes; leaving out .env gives this copy its own SECRET_KEY
            shutil.copytree(template, data_dir, ignore=shutil.ignore_patterns(".env"))
            token = json.loads(identity_file.read_text())["token"]
        identity = {"token": token, "server_id": f"local-{secrets.token_hex(6)}", "database": where}
    else:
        identity = json.loads(identity_file.read_text())
        if identity.get("database", "sqlite") != where:
            raise BadInput(f"the server in {server_dir} keeps its data in {identity.get('database', 'sqlite')}, "
                           f"not {where}: open the studio with that --database")
    connection = _run(data_dir, identity["token"], identity["server_id"], database_url, port, timeout, venv)
    if fresh:  # this copy's own admin token (the template's would open every copy)
        identity["token"] = _reset_token(connection)
        write_private(identity_file, identity)
        connection = Connection(**(connection.as_dict() | {"token": identity["token"]}))
    return connection


def _clone_database(server_dir: Path, database_url: str, venv: Path | None) -> str:
    """Create this server's database as a clone of the template; returns the admin token inside it.

    The database's name is claimed in ``server_dir`` before it is created, so a start that died after the
    clone is finished by the next one (the half-made database is dropped and cloned again), while a database
    of the same name made by anybody else is never touched."""
    db = Database.parse(database_url)
    template, token = migrated_template_database(database_url, venv)
    cluster = postgres.Cluster(db, venv)
    claim = server_dir / CLAIM_FILE
    claimed = json.loads(claim.read_text()).get("database") if claim.exists() else None
    if cluster.exists(db.name):
        if claimed != db.where:
            raise BadInput(f"database {db.where} already exists and is not this studio's: drop it, or give "
                           "another --database name")
        cluster.drop(db.name)
    write_private(claim, {"database": db.where})
    cluster.create(db.name, template=template)
    return token


def _run(data_dir: Path, token: str, server_id: str, database_url: str | None, port: int | None, timeout: float,
         venv: Path | None) -> Connection:
    binary = install(venv)
    port = port or free_port()
    _private_dir(data_dir)
    log_path = data_dir.parent / "server.log"
    log = os.fdopen(os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")
    process = subprocess.Popen(
        [str(binary), "start", "--no-browser", "--internal-host", "127.0.0.1", "-p", str(port)],
        env=server_env(data_dir, token, database_url), cwd=data_dir.parent, umask=PRIVATE,
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
    )
    log.close()
    connection = Connection(url=f"http://127.0.0.1:{port}", token=token, server_id=server_id, pid=process.pid,
                            started=psutil.Process(process.pid).create_time(), data_dir=str(data_dir),
                            database="postgresql" if database_url else "sqlite")
    try:
        wait_until_up(process, lambda: _answers(connection.url), "Label Studio", connection.url, timeout, log_path)
    except BaseException:
        terminate(process.pid)
        raise
    return connection


def _reset_token(connection: Connection) -> str:
    request = Request(f"{connection.url}/api/current-user/reset-token/", method="POST",
                      headers={"Authorization": f"Token {connection.token}"})
    with urlopen(request, timeout=60) as response:
        return json.loads(response.read())["token"]


def is_running(connection: Connection) -> bool:
    """Whether the process recorded for a local server is still that server: same PID, same start time and a
    Label Studio command line."""
    return same_process(connection.pid, connection.started, "label-studio")


def stop(connection: Connection) -> bool:
    """Stop a server whyset started, after checking the PID still belongs to it; returns whether it ran."""
    if not is_running(connection):
        return False
    terminate(connection.pid)  # type: ignore[arg-type]
    return True


def _answers(url: str) -> bool:
    try:
        with urlopen(f"{url}/api/version/", timeout=2) as response:
            return response.status == 200
    except (URLError, OSError):
        return False


def _private_dir(path: Path) -> None:
    """Create a folder (and its parents) readable by its owner only; without touching the process umask,
    which would race with servers started from other threads."""
    for folder in reversed([path, *path.parents]):
        if not folder.exists():
            folder.mkdir(mode=0o700, exist_ok=True)  # exist_ok: servers start from parallel threads
    path.chmod(0o700)


def write_private(path: Path, payload: dict) -> None:
    """A JSON file only its owner can read (tokens, passwords)."""
    _private_dir(path.parent)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(json.dumps(payload, indent=2))
    path.chmod(0o600)
