"""A Label Studio server as one object: where it is, how to reach it, who annotates on it.

``Studio.up`` starts a local server from a studio home (installing its pinned venv on first use),
``Studio.connect`` remembers a remote one, ``Studio.attach`` picks up whichever the home points at.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from whyset.annotation import server
from whyset.annotation.accounts import ensure_annotators
from whyset.annotation.client import StudioClient
from whyset.annotation.server import Connection
from whyset.errors import ServerUnreachable


@dataclass(frozen=True)
class Studio:
    home: Path
    connection: Connection

    @classmethod
    def up(cls, home: Path, port: int | None = None, template: Path | None = None,
           database: str | None = None) -> Studio:
        """Start a local server in ``home`` (or return the one running there) once its API answers."""
        return cls(home, server.up(home, port=port, template=template, database_url=database))

    @classmethod
    def connect(cls, url: str, token: str, home: Path) -> Studio:
        """Use an existing server; the token is checked now."""
        return cls(home, server.connect(url, token, home))

    @classmethod
    def attach(cls, home: Path) -> Studio:
        """The server ``home`` points at (started with ``up`` or remembered with ``connect``)."""
        connection = server.status(home)
        if connection is None:
            raise ServerUnreachable(f"no Label Studio running or connected for {home} "
                                    "(run `whyset studio up` or `whyset studio connect URL --token T`)")
        return cls(home, connection)

    @property
    def url(self) -> str:
        return self.connection.url

    def client(self, token: str | None = None) -> StudioClient:
        """Calls as the admin, or as the user whose token is given."""
        return StudioClient(self.connection, token=token)

    def accounts(self, handles: Sequence[str]) -> dict[str, dict[str, str]]:
        """Annotator accounts for these handles (created on first use): handle -> e-mail, password, token."""
        return ensure_annotators(self.client(), handles, self.home)

    def down(self) -> Connection | None:
        """Stop the server this home started (by PID), or forget a remote one."""
        return server.down(self.home)
