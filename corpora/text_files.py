"""The user's text files (sources, explanations, ratings, recipes, gates, citations) are UTF-8: decided here
once, so that a file saved as Latin-1 or UTF-16 stops with one line naming the file, line and column of the
first byte that is not UTF-8, instead of a UnicodeDecodeError traceback. A UTF-8 byte-order mark is dropped
(spreadsheet programs write one at the start of a CSV file)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from whyset.errors import BadInput

_BOM = "\ufeff"


def read_text(path: Path, what: str = "file") -> str:
    """The whole file as text; ``what`` words the error when it is missing ("no such recipe")."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise BadInput(f"{path}: no such {what}") from None
    except IsADirectoryError:
        raise BadInput(f"{path}: is a folder, not a {what}") from None
    return decode(data, path).removeprefix(_BOM)


def text_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(1-based line number, text) for each line, read as it goes (sources and explanations can be large)."""
    if not path.exists():
        raise BadInput(f"{path}: no such file or directory")
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            text = decode(raw, path, number)
            yield number, text.removeprefix(_BOM) if number == 1 else text


def decode(data: bytes, path: Path, first_line: int = 1) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = first_line + data.count(b"\n", 0, exc.start)
        column = exc.start - data.rfind(b"\n", 0, exc.start)
        raise BadInput(f"{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at column {column}); "
                       "save the file as UTF-8") from None
