"""Putting a release in place in one step, so that the output folder always holds one whole version.

The new version is written beside the output folder, in ``.OUT.whyset-swap``, and then exchanged with it by
one atomic rename of the two directory entries (Linux ``renameat2(RENAME_EXCHANGE)``): a reader sees the old
folder or the new one, never a mixture of the two. What the old folder held besides whyset's own files (a Hub
clone's ``.git``, ``.gitattributes``) is then moved into the new one, and the old one removed. An export killed
at any moment leaves at most that swap folder behind; the next export first moves such entries back from it
and removes it (:func:`recover`).

Where the exchange is not available (other systems, some file systems) the folder is renamed aside and the new
one renamed into place: between those two renames the folder is missing, never mixed, and :func:`recover` puts
the old one back if the export died there.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
from pathlib import Path

from whyset.errors import BadInput

MANAGED = ("data", "README.md", "CHANGELOG.md", "provenance.json", "croissant.json")
_AT_FDCWD, _RENAME_EXCHANGE = -100, 2


def swap_folder(out_dir: Path) -> Path:
    """Where the next version is written, and where the previous one sits right after the exchange."""
    return out_dir.parent / f".{out_dir.name}.whyset-swap"


def _aside(out_dir: Path) -> Path:
    return out_dir.parent / f".{out_dir.name}.whyset-old"


def check_target(out_dir: Path) -> None:
    """An export replaces a folder that holds whyset's files and dot-entries (a Hub clone) only: anything else
    is someone's data, which an export must not swap around."""
    if out_dir.exists() and not out_dir.is_dir():
        raise BadInput(f"{out_dir}: is a file; export into a folder")
    other = sorted(p.name for p in out_dir.iterdir() if p.name not in MANAGED
                   and not p.name.startswith(".")) if out_dir.is_dir() else []
    if other:
        raise BadInput(f"{out_dir}: holds other files ({', '.join(other[:3])}{', ...' if len(other) > 3 else ''}); "
                       "export into an empty folder, an earlier export or a clone of its Hub repo")


def recover(out_dir: Path) -> None:
    """Finish what an interrupted export left: the old folder back if it was renamed aside, the entries of the
    old folder that are not whyset's moved back, the leftovers removed."""
    aside = _aside(out_dir)
    if aside.exists() and not out_dir.exists():
        aside.rename(out_dir)
    for leftover in (swap_folder(out_dir), aside):
        if leftover.exists():
            _retire(leftover, out_dir)


def put_in_place(staging: Path, out_dir: Path) -> None:
    """Make ``staging`` the output folder in one atomic step, keeping the old folder's other entries."""
    if not out_dir.exists():
        staging.rename(out_dir)
        return
    if exchange(staging, out_dir):
        _retire(staging, out_dir)  # staging now holds the previous version
        return
    aside = _aside(out_dir)
    out_dir.rename(aside)
    staging.rename(out_dir)
    _retire(aside, out_dir)


def exchange(a: Path, b: Path) -> bool:
    """Swap two directory entries atomically; False where the system cannot (then nothing happened)."""
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(code, f"cannot exchange {a} and {b}: {os.strerror(code)}")


def _retire(old: Path, out_dir: Path) -> None:
    """Move the entries of a previous folder that are not whyset's into the output folder, then remove it
    (never an entry that is not whyset's: one the output folder has too stays, and says so)."""
    clash = []
    for entry in sorted(old.iterdir()):
        if entry.name in MANAGED and entry.is_dir():
            shutil.rmtree(entry)
        elif entry.name in MANAGED:
            entry.unlink()
        elif (out_dir / entry.name).exists():
            clash.append(entry.name)
        else:
            entry.rename(out_dir / entry.name)
    if clash:
        raise BadInput(f"{old}: kept, because {out_dir} has {', '.join(clash)} too; compare and remove one yourself")
    old.rmdir()
