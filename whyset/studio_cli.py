"""Command line for the Label Studio side: ``whyset studio ...``, ``push``, ``pull`` and ``adjudicate``, each a
few lines over :class:`whyset.Corpus` and :class:`whyset.Studio`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from whyset._app import (
    DEFAULT_STORE,
    HomeOption,
    StoreOption,
    app,
    console,
    open_corpus,
    open_studio,
    studio_app,
    warn,
)
from whyset.errors import ServerUnreachable

__all__ = ["studio_app"]

DatabaseOption = Annotated[str | None, typer.Option(
    envvar="WHYSET_STUDIO_DATABASE",
    help="postgresql://user:pw@host:port/db: each annotator's server gets database db_<handle> (default SQLite).")]


def _handles(annotators: str) -> list[str]:
    return [a.strip() for a in annotators.split(",") if a.strip()]


def _show(handle: str, connection) -> None:
    where = "remote" if connection.remote else f"pid {connection.pid}, {connection.database}"
    console.print(f"{'shared (not blind)' if handle == '*' else handle}: {connection.url} ({where})")


@studio_app.command("install")
def studio_install() -> None:
    """Create the servers' own venv with the pinned Label Studio release (done on first use otherwise)."""
    from whyset.annotation.server import install
    from whyset.paths import LABEL_STUDIO_VERSION

    console.print(f"label-studio=={LABEL_STUDIO_VERSION}: {install()}")


@studio_app.command("up")
def studio_up(
    annotators: Annotated[str | None, typer.Argument(
        help="Comma-separated handles whose servers to start (default: every annotator with an account).")] = None,
    database: DatabaseOption = None,
    home: HomeOption = None,
    store: StoreOption = DEFAULT_STORE,
) -> None:
    """Start annotators' local servers (one each, blind by design; `push` also starts them on demand), after
    preparing the migrated template they start from."""
    from whyset.annotation.server import migrated_template

    studio = open_studio(home, store, database)
    console.print(f"template: {migrated_template()}")
    for handle, connection in studio.up(_handles(annotators or "")).items():
        _show(handle, connection)


@studio_app.command("down")
def studio_down(home: HomeOption = None, store: StoreOption = DEFAULT_STORE) -> None:
    """Stop every local server started from this home (each by its verified PID); forget remote ones."""
    stopped = open_studio(home, store).down()
    console.print("\n".join(f"stopped {c.url}" for c in stopped) if stopped else "no server running")


@studio_app.command("status")
def studio_status(home: HomeOption = None, store: StoreOption = DEFAULT_STORE) -> None:
    """Show each annotator's server; exit 4 when there is none or one does not answer."""
    from whyset.annotation.client import StudioClient

    studio = open_studio(home, store)
    if not studio.servers:
        raise ServerUnreachable(f"no Label Studio running or connected for {studio.home} "
                                "(`whyset push` starts annotators' servers; or `whyset studio up HANDLES`, "
                                "`whyset studio connect URL --token T`)")
    for handle, connection in sorted(studio.servers.items()):
        StudioClient(connection).whoami()
        _show(handle, connection)


@studio_app.command("connect")
def studio_connect(
    url: Annotated[str, typer.Argument(help="Base URL of an existing Label Studio server.")],
    token: Annotated[str, typer.Option(envvar="LABEL_STUDIO_API_KEY", help="Legacy API token of an admin.")],
    annotator: Annotated[str | None, typer.Option(help="The one annotator this server is for (blind).")] = None,
    shared: Annotated[bool, typer.Option(
        help="One server for every annotator without their own: NOT blind (rounds record it).")] = False,
    home: HomeOption = None,
    store: StoreOption = DEFAULT_STORE,
) -> None:
    """Use an existing (remote) server for one annotator, or shared by all; the token is checked now."""
    from whyset.errors import BadInput

    if bool(annotator) == shared:
        raise BadInput("studio connect: give --annotator HANDLE (blind) or --shared (not blind), one of the two")
    connection = open_studio(home, store).connect(url, token, annotator)
    _show(annotator or "*", connection)
    if shared:
        warn("a shared open-source Label Studio server lets every annotator see everyone's work: not blind")


@studio_app.command("accounts")
def studio_accounts(
    annotators: Annotated[str, typer.Argument(help="Comma-separated annotator handles (or e-mails).")],
    home: HomeOption = None,
    store: StoreOption = DEFAULT_STORE,
) -> None:
    """Create annotator accounts, each on their own server (or check existing ones), and print their logins."""
    studio = open_studio(home, store)
    for handle, account in studio.accounts(_handles(annotators)).items():
        console.print(f"{handle}: {studio.server(handle).url} {account['email']} / {account['password']}")


@studio_app.command("replay-esnli")
def studio_replay_esnli(
    folder: Annotated[Path, typer.Argument(help="e-SNLI folder (s1/s2/labels/preproc1_expl_{1,2,3}).")],
    round_id: Annotated[str, typer.Option("--round", help="A freetext round pushed to annotators a1,a2,a3.")],
    split: Annotated[str, typer.Option(help="Split suffix of the files.")] = "dev",
    limit: Annotated[int | None, typer.Option(help="Only the first N pairs.")] = None,
    home: HomeOption = None,
    store: StoreOption = DEFAULT_STORE,
) -> None:
    """Submit e-SNLI's three human explanations per pair as annotators a1, a2, a3, each with their own token."""
    with open_corpus(store) as corpus:
        counts = corpus.replay_esnli(open_studio(home, store), folder, round_id, split, limit)
    console.print(f"round {round_id}: " + ", ".join(f"{n} {what}" for what, n in counts.items()))


@app.command(rich_help_panel="Label Studio")
def push(
    kind: Annotated[str, typer.Option(help="Task kind: rationale | counterfactual | qa | freetext (or a plugin's)")],
    round_id: Annotated[str, typer.Option("--round", help="Annotation round id, e.g. r1-rationale.")],
    annotators: Annotated[str, typer.Option(help="Comma-separated annotator handles.")],
    k: Annotated[int, typer.Option(help="Annotators per item (each works blind, on a server of their own).")] = 1,
    guideline: Annotated[Path | None, typer.Option(help="Guideline text (Markdown/HTML) shown in the projects.")] = None,
    guideline_version: Annotated[str, typer.Option(help="Version recorded with every annotation.")] = "v1",
    limit: Annotated[int | None, typer.Option(help="Push only the first N items.")] = None,
    controls: Annotated[float, typer.Option(
        help="Share of each annotator's queue that is control items with a known answer (e.g. 0.1), mixed in "
             "blind; drawn from items outside the round.")] = 0.0,
    batch_size: Annotated[int | None, typer.Option(help="Tasks per import request (default 1000).")] = None,
    home: HomeOption = None,
    store: StoreOption = DEFAULT_STORE,
) -> None:
    """Push items with model candidates as pre-annotations; re-running never duplicates a task."""
    from whyset.annotation.push import Guideline

    text = Guideline.from_file(guideline, guideline_version) if guideline else None
    studio = open_studio(home, store)
    with open_corpus(store) as corpus:
        report = corpus.push(studio, kind, round_id, _handles(annotators), k, text, limit, batch_size, controls)
    console.print(f"round {round_id}: {report.created} tasks created, {report.already_there} already there"
                  + (f", {report.controls} control tasks" if report.controls else ""))
    if report.short:
        warn(f"{len(report.short)} items have fewer than {k} annotators who have not seen them")
    for annotator, link in report.links.items():
        console.print(f"  {annotator}: {link}")
    if not studio.blind:
        warn(f"round {round_id} is on a shared server: annotators can see each other's work")


@app.command(rich_help_panel="Label Studio")
def pull(
    round_id: Annotated[str, typer.Option("--round", help="The round to pull.")],
    home: HomeOption = None,
    store: StoreOption = DEFAULT_STORE,
) -> None:
    """Pull the round's annotations into the store; invalid ones are reported and kept aside."""
    studio = open_studio(home, store)
    with open_corpus(store) as corpus:
        report = corpus.pull(studio, round_id)
    for problem in report.problems:
        warn(problem)
    counts = ", ".join(f"{n} {status}" for status, n in sorted(report.statuses.items())) or "no annotations yet"
    console.print(f"round {round_id}: {counts}; {report.new_annotations} new annotation records")


@app.command(rich_help_panel="Label Studio")
def adjudicate(
    round_id: Annotated[str, typer.Option("--round", help="The pulled round to adjudicate.")],
    adjudicator: Annotated[str, typer.Option(help="Handle of the adjudicator.")],
    threshold: Annotated[float | None, typer.Option(
        help="Content-rule threshold for this round's kind (rationales: lowest pairwise token F1, default 0.5; "
             "free text: best pairwise ROUGE-L, default 0.2).")] = None,
    home: HomeOption = None,
    store: StoreOption = DEFAULT_STORE,
) -> None:
    """Push items whose annotators disagree to an adjudication project that shows all their answers."""
    studio = open_studio(home, store)
    with open_corpus(store) as corpus:
        report = corpus.adjudicate(studio, round_id, adjudicator, threshold)
    if not report.disagreeing:
        console.print(f"round {round_id}: no disagreements; nothing to adjudicate")
        return
    console.print(f"round {round_id}: {report.disagreeing} items disagree; {report.created} adjudication tasks at "
                  f"{report.link}")
