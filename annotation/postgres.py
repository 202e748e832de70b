"""PostgreSQL databases for local Label Studio servers: one per annotator server, cloned from a migrated template.

Why clone: Label Studio's first start on an empty PostgreSQL database spends about 60 s in migrations
(CPU-bound Django; measured on PostgreSQL 15), while ``CREATE DATABASE x TEMPLATE t`` takes 0.2 s and a start
on the clone about 7 s. So one template database per PostgreSQL server is migrated once, and every annotator's
database is a clone of it.

Statements run in the Label Studio server's venv, whose psycopg 3 is Label Studio's own driver (whyset's venv
needs no PostgreSQL driver, and the password travels on stdin, never on a command line). They create, clone
and drop databases only: the corpus store's tables all live in ``corpora/``. The role in the URL needs the
CREATEDB privilege.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlparse

from whyset.errors import BadInput, ServerUnreachable, WhysetError
from whyset.paths import studio_venv

MAX_NAME = 63  # PostgreSQL silently truncates longer identifiers, which could make two servers share one
TEMPLATE_PREFIX = "whyset__template_"

_SCRIPT = r"""
import json, sys
import psycopg
from psycopg import sql

job = json.load(sys.stdin)
params = job["connect"]


def connect(dbname):
    return psycopg.connect(**params, dbname=dbname, autocommit=True, connect_timeout=15)


def answer(result):
    print(json.dumps(result))
    sys.exit(0)


try:
    results = []
    for op, name, template in job["ops"]:
        if op == "exists":
            try:
                connect(name).close()
                results.append(True)
            except psycopg.OperationalError as exc:
                if f'database "{name}" does not exist' not in str(exc):
                    raise
                results.append(False)
            continue
        with connect(job["maintenance"]) as con:
            if op == "create":
                statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
                if template:
                    statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
            else:
                statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            con.execute(statement)
            results.append(True)
    answer({"results": results})
except psycopg.OperationalError as exc:
    answer({"unreachable": str(exc).strip().splitlines()[-1]})
except psycopg.Error as exc:
    answer({"error": str(exc).strip().splitlines()[0]})
"""


@dataclass(frozen=True)
class Database:
    """A ``postgresql://user:password@host:port/name`` URL, taken apart."""

    user: str
    password: str
    host: str
    port: int
    name: str

    @classmethod
    def parse(cls, url: str) -> Database:
        parsed = urlparse(url)
        name = parsed.path.strip("/")
        if parsed.scheme not in ("postgres", "postgresql") or not name or "/" in name:
            raise BadInput(f"--database {redact(url)!r}: expected postgresql://user:password@host:port/dbname")
        return cls(parsed.username or "postgres", parsed.password or "", parsed.hostname or "127.0.0.1",
                   parsed.port or 5432, name)

    def renamed(self, name: str) -> Database:
        if len(name.encode()) > MAX_NAME:
            raise BadInput(f"database name {name!r} is longer than PostgreSQL's {MAX_NAME} bytes: "
                           "use a shorter --database name or shorter handles")
        return Database(self.user, self.password, self.host, self.port, name)

    @property
    def url(self) -> str:
        return (f"postgresql://{quote(self.user, safe='')}:{quote(self.password, safe='')}@{self.host}:{self.port}"
                f"/{self.name}")

    @property
    def where(self) -> str:
        """The database without its password: what messages and identity files show."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.name}"


def redact(url: str) -> str:
    parsed = urlparse(url)
    return parsed._replace(netloc=parsed.netloc.rpartition("@")[2]).geturl() if "@" in parsed.netloc else url


class Cluster:
    """Database-level statements on the PostgreSQL server a URL names, as that URL's role."""

    def __init__(self, database: Database, venv: Path | None = None, maintenance: str = "postgres"):
        self.database, self.maintenance = database, maintenance
        self.python = (venv or studio_venv()) / "bin" / "python"

    def exists(self, name: str) -> bool:
        return self._run([("exists", name, None)])[0]

    def create(self, name: str, template: str | None = None) -> None:
        """A new database (a clone of ``template``, to which nobody may be connected)."""
        self._run([("create", name, template)])

    def drop(self, name: str) -> None:
        self._run([("drop", name, None)])

    def _run(self, ops: list[tuple[str, str, str | None]]) -> list[bool]:
        db = self.database
        job = {"connect": {"user": db.user, "password": db.password, "host": db.host, "port": db.port},
               "maintenance": self.maintenance, "ops": ops}
        done = subprocess.run([str(self.python), "-c", _SCRIPT], input=json.dumps(job), capture_output=True,
                              text=True, timeout=120, check=False)
        if done.returncode != 0 or not done.stdout.strip():
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise WhysetError(f"PostgreSQL statements through {self.python} failed: {tail[0]}")
        answer = json.loads(done.stdout.strip().splitlines()[-1])
        if "unreachable" in answer:
            raise ServerUnreachable(f"PostgreSQL at {db.where}: {answer['unreachable']}")
        if "error" in answer:
            raise WhysetError(f"PostgreSQL at {db.where}: {answer['error']}")
        return answer["results"]
