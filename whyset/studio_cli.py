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
    attach_studio,
    console,
    open_corpus,
    studio_app,
    studio_home,
    warn,
)

__all__ = ["studio_app"]


def _show(studio) -> None:
    connection = studio.connection
    where = "remote" if connection.remote else f"pid {connection.pid}, {connection.database}"
    console.print(f"Label Studio {connection.url} ({where})")
    if connection.admin_email:
        console.print(f"  login: {connection.admin_email} / {connection.admin_password}")


def _handles(annotators: str) -> list[str]:
    return [a.strip() for a in annotators.split(",") if a.strip()]


@studio_app.command("install")
def studio_install() -> None:
    """Create the server's own venv with the pinned Label Studio release (done by `up` when missing)."""
    from whyset.annotation.server import install
    from whyset.paths import LABEL_STUDIO_VERSION

    console.print(f"label-studio=={LABEL_STUDIO_VERSION}: {install()}")


@studio_app.command("up")
def studio_up(
    port: Annotated[int | None, typer.Option(help="Loopback port (default: a free one).")] = None,
    template: Annotated[Path | None, typer.Option(help="Already-migrated data dir to copy (fast start).")] = None,
    database: Annotated[str | None, typer.Option(envvar="WHYSET_STUDIO_DATABASE",
                                                 help="postgresql://user:pw@host:port/db (default SQLite).")] = None,
    home: HomeOption = None,
    store: StoreOption = DEFAULT_STORE,
) -> None:
    """Start a local Label Studio (installing its pinned venv on first use) and wait until its API answers."""
    from whyset.annotation.studio import Studio

    _show(Studio.up(studio_home(home, store), port=port, template=template, database=database))


@studio_app.command("down")
def studio_down(home: HomeOption = None, store: StoreOption = DEFAULT_STORE) -> None:
    """Stop the local server started from this home (by PID), or forget a remote connection."""
    from whyset.annotation.server import down

    stopped = down(studio_home(home, store))
    console.print(f"stopped {stopped.url}" if stopped else "no server running")


@studio_app.command("status")
def studio_status(home: HomeOption = None, store: StoreOption = DEFAULT_STORE) -> None:
    """Show the server this home points at; exit 4 when there is none or it does not answer."""
    studio = attach_studio(home, store)
    studio.client().whoami()
    _show(studio)


@studio_app.command("connect")
def studio_connect(
    url: Annotated[str, typer.Argument(help="Base URL of an existing Label Studio server.")],
    token: Annotated[str, typer.Option(envvar="LABEL_STUDIO_API_KEY", help="Legacy API token of an admin.")],
    home: HomeOption = None,
    store: StoreOption = DEFAULT_STORE,
) -> None:
    """Use an existing (remote) server instead of a local one; the token is checked now."""
    from whyset.annotation.studio import Studio

    _show(Studio.connect(url, token, studio_home(home, store)))


@studio_app.command("accounts")
def studio_accounts(
    annotators: Annotated[str, typer.Argument(help="Comma-separated annotator handles (or e-mails).")],
    home: HomeOption = None,
    store: StoreOption = DEFAULT_STORE,
) -> None:
    """Create annotator accounts (or check existing ones) and print their logins."""
    for handle, account in attach_studio(home, store).accounts(_handles(annotators)).items():
        console.print(f"{handle}: {account['email']} / {account['password']}")


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
        counts = corpus.replay_esnli(attach_studio(home, store), folder, round_id, split, limit)
    console.print(f"round {round_id}: " + ", ".join(f"{n} {what}" for what, n in counts.items()))


@app.command(rich_help_panel="Label Studio")
def push(
    kind: Annotated[str, typer.Option(help="Task kind: rationale | counterfactual | qa | freetext (or a plugin's)")],
    round_id: Annotated[str, typer.Option("--round", help="Annotation round id, e.g. r1-rationale.")],
    annotators: Annotated[str, typer.Option(help="Comma-separated annotator handles.")],
    k: Annotated[int, typer.Option(help="Annotators per item (each works blind, in a project of their own).")] = 1,
    guideline: Annotated[Path | None, typer.Option(help="Guideline text (Markdown/HTML) shown in the projects.")] = None,
    guideline_version: Annotated[str, typer.Option(help="Version recorded with every annotation.")] = "v1",
    limit: Annotated[int | None, typer.Option(help="Push only the first N items.")] = None,
    batch_size: Annotated[int, typer.Option(help="Tasks per import request.")] = 500,
    home: HomeOption = None,
    store: StoreOption = DEFAULT_STORE,
) -> None:
    """Push items with model candidates as pre-annotations; re-running never duplicates a task."""
    from whyset.annotation.push import Guideline

    text = Guideline.from_file(guideline, guideline_version) if guideline else None
    studio = attach_studio(home, store)
    with open_corpus(store) as corpus:
        report = corpus.push(studio, kind, round_id, _handles(annotators), k, text, limit, batch_size)
    console.print(f"round {round_id}: {report.created} tasks created, {report.already_there} already there")
    for annotator, project_id in report.projects.items():
        console.print(f"  {annotator}: {studio.url}/projects/{project_id}")


@app.command(rich_help_panel="Label Studio")
def pull(
    round_id: Annotated[str, typer.Option("--round", help="The round to pull.")],
    home: HomeOption = None,
    store: StoreOption = DEFAULT_STORE,
) -> None:
    """Pull the round's annotations into the store; invalid ones are reported and kept aside."""
    studio = attach_studio(home, store)
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
    studio = attach_studio(home, store)
    with open_corpus(store) as corpus:
        report = corpus.adjudicate(studio, round_id, adjudicator, threshold)
    if not report.disagreeing:
        console.print(f"round {round_id}: no disagreements; nothing to adjudicate")
        return
    console.print(f"round {round_id}: {report.disagreeing} items disagree; {report.created} adjudication tasks at "
                  f"{studio.url}/projects/{report.project_id}")
