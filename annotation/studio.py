"""The Label Studio side of a corpus: one server per annotator, so that blind annotation is true by design.

The open-source edition of Label Studio (1.23.2) is built for a single organization: any user who can log in
can read, write and delete every project of the server (its own code says "LSO always runs a single
organization, so cross-org access does not exist by design"), and a user may even switch their active
organization to any other. Separate organizations on one server therefore do not keep annotators apart (the
README's security model lists what was measured). Separate *servers* do: each annotator
signs up on a server of their own, where the only other user is whyset's admin, so their token, password and
browser session open nothing of anybody else's.

A studio home holds ``servers.json`` (handle -> server connection; mode 600), ``accounts.json`` (each
annotator's login and API token on their server) and ``servers/<handle>/`` (each local server's data dir and
log). Local servers start on demand (``push`` to an annotator starts theirs) from copies of one migrated
template. ``studio connect URL --annotator H`` uses an existing server for one annotator; ``--shared`` one
server for every annotator without a server of their own, which is *not* blind, and rounds pushed there say so.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from whyset.annotation import server
from whyset.annotation.client import StudioClient
from whyset.annotation.postgres import Database
from whyset.annotation.server import Connection, write_private
from whyset.errors import BadInput, ServerUnreachable

SERVERS_FILE = "servers.json"
ACCOUNTS_FILE = "accounts.json"
SHARED = "*"  # the registry key of a shared (not blind) server
ANNOTATOR_DOMAIN = "whyset.local"
_HANDLE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,63}$")


def annotator_email(handle: str) -> str:
    """Annotators are named by handle in the corpus (exports carry no e-mail addresses)."""
    return handle if "@" in handle else f"{handle}@{ANNOTATOR_DOMAIN}"


def check_handle(handle: str) -> str:
    """Handles name servers, folders and e-mail addresses: letters, digits and ``_.@+-``, at most 64."""
    if not _HANDLE.match(handle):
        raise BadInput(f"annotator handle {handle!r}: use letters, digits and _ . @ + - (at most 64 characters)")
    return handle


@dataclass
class Studio:
    home: Path
    database: str | None = None  # PostgreSQL URL for local servers (one database each), else SQLite
    servers: dict[str, Connection] = field(default_factory=dict)

    @classmethod
    def open(cls, home: Path, database: str | None = None) -> Studio:
        """The studio of ``home``: its remembered servers (local ones whose process is gone are forgotten)."""
        server._private_dir(home)
        path = home / SERVERS_FILE
        saved = json.loads(path.read_text()) if path.exists() else {}
        servers = {h: Connection(**c) for h, c in saved.get("servers", {}).items()}
        alive = {h: c for h, c in servers.items() if c.remote or server.is_running(c)}
        studio = cls(home, database or saved.get("database"), alive)
        if alive != servers or (database and database != saved.get("database")):
            studio._save()
        return studio

    def _save(self) -> None:
        write_private(self.home / SERVERS_FILE, {"database": self.database,
                                                 "servers": {h: c.as_dict() for h, c in self.servers.items()}})

    # -- servers ------------------------------------------------------------------------------------
    @property
    def blind(self) -> bool:
        return SHARED not in self.servers

    def server(self, handle: str) -> Connection:
        """The annotator's server, started (from the template) if it is local and not running."""
        handle = check_handle(handle)
        if handle in self.servers:
            return self.servers[handle]
        if SHARED in self.servers:
            return self.servers[SHARED]
        return self.up([handle])[handle]

    def up(self, handles: Sequence[str] = ()) -> dict[str, Connection]:
        """Start the local servers of these handles (default: every annotator with an account), in parallel."""
        wanted = [check_handle(h) for h in handles] or sorted(self.accounts_file())
        missing = [h for h in wanted if h not in self.servers]
        database = self.database

        def start(handle: str) -> tuple[str, Connection]:
            url = _database_for(database, handle) if database else None
            return handle, server.start(self.home / "servers" / handle, database_url=url)

        if missing:  # the template once, before the copies
            server.migrated_template_database(database) if database else server.migrated_template()
            with ThreadPoolExecutor(max(1, min(4, len(missing)))) as pool:
                for handle, connection in pool.map(start, missing):
                    self.servers[handle] = connection
                    self._save()
        return {h: self.servers[h] for h in wanted}

    def connect(self, url: str, token: str, annotator: str | None = None) -> Connection:
        """Use an existing server, for one annotator or (``annotator=None``) shared by all: not blind."""
        connection = Connection(url=url.rstrip("/"), token=token, server_id=url.rstrip("/"))
        StudioClient(connection).whoami()  # a wrong URL or token fails now, not mid-push
        self.servers[check_handle(annotator) if annotator else SHARED] = connection
        self._save()
        return connection

    def down(self) -> list[Connection]:
        """Stop every local server this home started (each by its verified PID); forget remote ones."""
        stopped = [c for c in self.servers.values() if server.stop(c)]
        self.servers = {}
        self._save()
        return stopped

    def client(self, handle: str, as_annotator: bool = False) -> StudioClient:
        """Calls on the annotator's server, as the admin, or as the annotator (``as_annotator``)."""
        connection = self.server(handle)
        return StudioClient(connection, token=self.accounts([handle])[handle]["token"] if as_annotator else None)

    def client_for(self, server_id: str) -> StudioClient:
        """The admin's client of a server the corpus store names by id (projects are keyed by it)."""
        found = [c for c in self.servers.values() if c.server_id == server_id]
        if not found:
            known = [h for h, c in _local_identities(self.home).items() if c == server_id]
            if known:
                return self.client(known[0])
            raise ServerUnreachable(f"server {server_id!r} (named in the store) is not a server of {self.home}: "
                                    "run `whyset studio up`, or `studio connect` it again")
        return StudioClient(found[0])

    # -- accounts -----------------------------------------------------------------------------------
    def accounts_file(self) -> dict[str, dict[str, str]]:
        path = self.home / ACCOUNTS_FILE
        return json.loads(path.read_text()) if path.exists() else {}

    def accounts(self, handles: Sequence[str]) -> dict[str, dict[str, str]]:
        """A working login and API token for each handle on their own server (signed up on first use).

        The password is generated and saved *before* the sign-up, so a sign-up killed halfway is finished by
        the next call instead of leaving a handle whose password nobody knows."""
        accounts = self.accounts_file()
        for handle in handles:
            connection = self.server(handle)
            account = accounts.get(handle) or {"email": annotator_email(handle),
                                                "password": secrets.token_urlsafe(12)}
            if account.get("server") != connection.server_id or not account.get("token"):
                account = account | {"server": connection.server_id, "token": ""}
                accounts[handle] = account
                write_private(self.home / ACCOUNTS_FILE, accounts)
                token = StudioClient(connection).provision_user(account["email"], account["password"],
                                                                close_invite=connection.server_id != _shared_id(self))
                accounts[handle] = account | {"token": token}
                write_private(self.home / ACCOUNTS_FILE, accounts)
        return {h: accounts[h] for h in handles}


def _shared_id(studio: Studio) -> str | None:
    shared = studio.servers.get(SHARED)
    return shared.server_id if shared else None


def _local_identities(home: Path) -> dict[str, str]:
    """handle -> server_id of every local server data dir under ``home`` (running or not)."""
    found = {}
    for identity in (home / "servers").glob(f"*/data/{server.IDENTITY_FILE}"):
        found[identity.parent.parent.name] = json.loads(identity.read_text())["server_id"]
    return found


def _database_for(database: str, handle: str) -> str:
    """Each annotator's server gets a database of its own: ``<name>_<handle>`` on the same PostgreSQL (a
    handle that is not already a plain lower-case name gets a hash too, so ``Ann.b`` and ``ann_b`` never
    share a database)."""
    db = Database.parse(database)
    safe = re.sub(r"[^a-z0-9_]", "_", handle.lower())
    if safe != handle:
        safe += "_" + hashlib.sha256(handle.encode()).hexdigest()[:6]
    return db.renamed(f"{db.name}_{safe}").url
