"""How a store holds its DuckDB file: only while it works, so that one command's long run does not lock every
other command out.

DuckDB lets one process hold a database file for writing, or any number of processes hold it read-only, and
the lock lasts as long as the database is open. So nothing keeps the file open between pieces of work: each
process keeps one in-memory DuckDB database (the *host*, created once: opening a database costs 40-80 ms here,
attaching a file 2-4 ms) and ``ATTACH``es the store file only for the duration of a lease: a transaction
(read-write), one read statement or one page of a streamed read (read-only), or a ``reading()`` block that
wants a consistent view across several reads. Between leases the file is detached and its lock released.

A busy file (another process writing, or reading while this one wants to write) is retried with backoff for
:data:`BUSY_TIMEOUT_S` seconds; then :class:`~whyset.errors.StoreBusy` names the holder. Within one process,
store objects on the same file share one attachment, as DuckDB's own instance cache would share a database.
"""

from __future__ import annotations

import atexit
import hashlib
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from whyset.errors import StoreBusy, WhysetError

BUSY_TIMEOUT_S = 5.0  # how long a lease waits for another process to release the file
_FIRST_WAIT_S, _MAX_WAIT_S = 0.01, 0.25
_HOLDER = re.compile(r"Conflicting lock is held in (.+?) \(PID (\d+)\)")


@dataclass
class _Attachment:
    alias: str
    write: bool
    users: int


class _Host:
    """The process's in-memory database and the store files attached to it (by resolved path)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.attached: dict[str, _Attachment] = {}
        self._con: duckdb.DuckDBPyConnection | None = None

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            self._con = duckdb.connect(":memory:")
            atexit.register(self.close)
        return self._con

    def close(self) -> None:
        """At exit: detach what is still attached (checkpointing it) and drop the database before the
        interpreter tears the module down (else DuckDB's bindings report leaked objects on stderr)."""
        if self._con is not None:
            self._con.close()
            self._con = None
            self.attached.clear()


_HOST = _Host()


class StoreFile:
    """One store object's access to its file: :meth:`lease` attaches it (or joins a lease already held)."""

    def __init__(self, path: Path, busy_timeout: float | None = None):
        self.path = path
        self._key = str(path.resolve())
        self._alias = "store_" + hashlib.sha256(self._key.encode()).hexdigest()[:16]
        self._busy_timeout = busy_timeout
        self._con = _HOST.con.cursor()  # a connection of its own: its transaction and USE are its own
        self._write: bool | None = None  # the mode of the attachment this object holds, None when it holds none
        self._leases = 0
        self._reading = 0

    @contextmanager
    def lease(self, write: bool) -> Iterator[duckdb.DuckDBPyConnection]:
        """The connection, with the file attached (read-write if ``write``) until the block ends; inside a lease
        that already allows it, the block joins it."""
        if self._write is None or (write and not self._write):
            if self._write is not None:  # a read-only hold of a reading() block, between its reads
                if self._leases:
                    raise RuntimeError(f"{self.path}: a write cannot start inside a read of the same store")
                self._detach()
            self._attach(write)
        self._leases += 1
        try:
            yield self._con
        finally:
            self._leases -= 1
            self._release_if_idle()

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Keep a read-only attachment across several reads (one consistent view); a write inside the block
        detaches it first, and the next read attaches again."""
        self._reading += 1
        try:
            yield
        finally:
            self._reading -= 1
            self._release_if_idle()

    def close(self) -> None:
        if self._write is not None:
            self._detach()
        self._con.close()

    def _release_if_idle(self) -> None:
        if self._leases == 0 and self._write is not None and not (self._reading and not self._write):
            self._detach()

    def _attach(self, write: bool) -> None:
        timeout = BUSY_TIMEOUT_S if self._busy_timeout is None else self._busy_timeout
        deadline, wait = time.monotonic() + timeout, _FIRST_WAIT_S
        while True:
            try:
                self._attach_once(write)
                return
            except duckdb.IOException as exc:
                message = str(exc).splitlines()[0]
                if not _HOLDER.search(message):
                    raise WhysetError(f"{self.path}: cannot open the store ({message})") from None
                if time.monotonic() >= deadline:
                    raise busy(self.path, message, timeout) from None
            except duckdb.Error as exc:
                raise WhysetError(f"{self.path}: cannot open the store ({str(exc).splitlines()[0]})") from None
            time.sleep(min(wait, max(0.0, deadline - time.monotonic())))
            wait = min(wait * 2, _MAX_WAIT_S)

    def _attach_once(self, write: bool) -> None:
        with _HOST.lock:
            shared = _HOST.attached.get(self._key)
            if shared is None:
                literal = "'" + self._key.replace("'", "''") + "'"
                _HOST.con.execute(f"ATTACH {literal} AS {self._alias}" + ("" if write else " (READ_ONLY)"))
                shared = _HOST.attached[self._key] = _Attachment(self._alias, write, 0)
            elif write and not shared.write:
                raise StoreBusy(f"{self.path}: the store is open read-only elsewhere in this process; "
                                "finish that read first")
            shared.users += 1
            self._con.execute(f"USE {self._alias}")
            self._write = shared.write

    def _detach(self) -> None:
        with _HOST.lock:
            self._con.execute("USE memory")
            shared = _HOST.attached[self._key]
            shared.users -= 1
            if shared.users == 0:
                del _HOST.attached[self._key]
                _HOST.con.execute(f"DETACH {self._alias}")
            self._write = None


def busy(path: Path, message: str, waited: float) -> StoreBusy:
    """DuckDB's lock message in words: who holds the store and what to do."""
    holder = _HOLDER.search(message)
    who = f" ({holder[1]}, PID {holder[2]})" if holder else ""
    return StoreBusy(f"{path}: the store is in use by another process{who}, still after {waited:g} s; "
                     "wait for it to finish, or stop it, then retry")
