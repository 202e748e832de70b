"""The typer app and what every command module shares (a leaf module: it imports no command module, so
``cli`` and ``studio_cli`` both import from here and never from each other)."""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import click
import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from whyset.errors import INTERNAL_ERROR, WhysetError

if TYPE_CHECKING:
    from whyset.annotation.studio import Studio
    from whyset.corpus import Corpus

class WhysetGroup(TyperGroup):
    """Every command's errors, translated once: a user error becomes one line on stderr and its class's exit
    status (README, "Exit codes"); anything else is a bug and keeps its traceback, with exit status 70. Done
    here rather than around the app so that in-process tests (typer's CliRunner) see exactly what users see."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except WhysetError as exc:
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}")
            raise typer.Exit(exc.exit_code) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort, typer.Exit):
            raise
        except Exception as exc:  # noqa: BLE001  (the last resort: show the bug, exit 70)
            traceback.print_exc()
            err_console.print(f"internal error (a bug in whyset, please report it): {escape(type(exc).__name__)}")
            raise typer.Exit(INTERNAL_ERROR) from None


def _typer(help_text: str, **kwargs: object) -> typer.Typer:
    return typer.Typer(cls=WhysetGroup, help=help_text, no_args_is_help=True, **kwargs)


app = _typer("Build explanation corpora with human-checked reasons.", pretty_exceptions_enable=False,
             add_completion=False)
import_app = _typer("Bring source examples and explanations into the store.")
validate_app = _typer("Agreement, explanation quality and corpus reports.")
studio_app = _typer("Run, connect to and inspect the Label Studio servers (one per annotator).")
llm_app = _typer("A local OpenAI-compatible LLM server (llama.cpp, the bundled SmolLM2) to try endpoints offline.")
app.add_typer(import_app, name="import")
app.add_typer(validate_app, name="validate")
app.add_typer(studio_app, name="studio", rich_help_panel="Label Studio")
app.add_typer(llm_app, name="llm", rich_help_panel="Builders")

# User data (paths, ids like "toy:train:0") must print verbatim: no markup, emoji codes or highlighting.
console = Console(soft_wrap=True, highlight=False, markup=False, emoji=False)
err_console = Console(stderr=True, soft_wrap=True, highlight=False, emoji=False)

StoreOption = Annotated[Path, typer.Option("--store", "-s", envvar="WHYSET_STORE",
                                           help="DuckDB file of the corpus project.")]
HomeOption = Annotated[Path | None, typer.Option(
    "--home", envvar="WHYSET_STUDIO_HOME",
    help="Label Studio home (server data, state, accounts); default: beside the store, or $WHYSET_HOME/studio.")]
DEFAULT_STORE = Path("whyset.duckdb")


@contextmanager
def open_corpus(store: Path) -> Iterator[Corpus]:
    from whyset.corpus import Corpus

    with Corpus.open(store) as corpus:
        yield corpus


def studio_home(home: Path | None, store: Path) -> Path:
    from whyset.paths import studio_home as default_home

    return home or default_home(store)


def open_studio(home: Path | None, store: Path, database: str | None = None) -> Studio:
    from whyset.annotation.studio import Studio

    return Studio.open(studio_home(home, store), database)


def warn(message: str) -> None:
    err_console.print(f"warning: {escape(message)}")


def run(argv: list[str] | None = None) -> None:
    app(args=argv, prog_name="whyset")
