"""Command line for the Label Studio side: ``whyset studio ...``, ``push``, ``pull`` and ``adjudicate``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from whyset.cli import DEFAULT_STORE, StoreOption, _open, app, console, err_console
from whyset.errors import WhysetError

studio_app = typer.Typer(help="Run, connect to and inspect the Label Studio server.", no_args_is_help=True)
app.add_typer(studio_app, name="studio")

HomeOption = Annotated[Path, typer.Option("--home", envvar="WHYSET_STUDIO_HOME",
                                          help="Folder with the server's venv, data, state and accounts.")]
DEFAULT_HOME = Path("work/studio")


def _connection(home: Path):
    from whyset.annotation.server import status

    connection = status(home)
    if connection is None:
        raise WhysetError(f"no Label Studio running or connected for {home} "
                          "(run `whyset studio up` or `whyset studio connect URL --token T`)")
    return connection


def _client(home: Path):
    from whyset.annotation.client import StudioClient

    return StudioClient(_connection(home))


def _show(connection) -> None:
    where = "remote" if connection.remote else f"pid {connection.pid}, {connection.database}"
    console.print(f"Label Studio {connection.url} ({where})")
    if connection.admin_email:
        console.print(f"  login: {connection.admin_email} / {connection.admin_password}")


@studio_app.command("install")
def studio_install(home: HomeOption = DEFAULT_HOME) -> None:
    """Create the server's own venv with the pinned Label Studio release (done by `up` when missing)."""
    from whyset.annotation.server import LABEL_STUDIO_VERSION, install

    console.print(f"label-studio=={LABEL_STUDIO_VERSION}: {install(home)}")


@studio_app.command("up")
def studio_up(
    port: Annotated[int | None, typer.Option(help="Loopback port (default: a free one).")] = None,
    template: Annotated[Path | None, typer.Option(help="Already-migrated data dir to copy (fast start).")] = None,
    database: Annotated[str | None, typer.Option(envvar="WHYSET_STUDIO_DATABASE",
                                                 help="postgresql://user:pw@host:port/db (default SQLite).")] = None,
    home: HomeOption = DEFAULT_HOME,
) -> None:
    """Start a local Label Studio (installing its pinned venv on first use) and wait until its API answers."""
    from whyset.annotation.server import up

    _show(up(home, port=port, template=template, database_url=database))


@studio_app.command("down")
def studio_down(home: HomeOption = DEFAULT_HOME) -> None:
    """Stop the local server started from this home (by PID), or forget a remote connection."""
    from whyset.annotation.server import down

    stopped = down(home)
    console.print(f"stopped {stopped.url}" if stopped else "no server running")


@studio_app.command("status")
def studio_status(home: HomeOption = DEFAULT_HOME) -> None:
    """Show the server this home points at; exit 1 when there is none or it does not answer."""
    connection = _connection(home)
    _client(home).whoami()
    _show(connection)


@studio_app.command("connect")
def studio_connect(
    url: Annotated[str, typer.Argument(help="Base URL of an existing Label Studio server.")],
    token: Annotated[str, typer.Option(envvar="LABEL_STUDIO_API_KEY", help="Legacy API token of an admin.")],
    home: HomeOption = DEFAULT_HOME,
) -> None:
    """Use an existing (remote) server instead of a local one; the token is checked now."""
    from whyset.annotation.server import connect

    _show(connect(url, token, home))


@studio_app.command("accounts")
def studio_accounts(
    annotators: Annotated[str, typer.Argument(help="Comma-separated annotator handles (or e-mails).")],
    home: HomeOption = DEFAULT_HOME,
) -> None:
    """Create annotator accounts (or check existing ones) and print their logins."""
    from whyset.annotation.accounts import ensure_annotators

    for handle, account in ensure_annotators(_client(home), _handles(annotators), home).items():
        console.print(f"{handle}: {account['email']} / {account['password']}")


@studio_app.command("replay-esnli")
def studio_replay_esnli(
    folder: Annotated[Path, typer.Argument(help="e-SNLI folder (s1/s2/labels/preproc1_expl_{1,2,3}).")],
    round_id: Annotated[str, typer.Option("--round", help="A freetext round pushed to annotators a1,a2,a3.")],
    split: Annotated[str, typer.Option(help="Split suffix of the files.")] = "dev",
    limit: Annotated[int | None, typer.Option(help="Only the first N pairs.")] = None,
    home: HomeOption = DEFAULT_HOME,
    store: StoreOption = DEFAULT_STORE,
) -> None:
    """Submit e-SNLI's three human explanations per pair as annotators a1, a2, a3, each with their own token."""
    from whyset.annotation.accounts import ensure_annotators
    from whyset.annotation.replay import replay
    from whyset.corpora.esnli import ANNOTATORS, read_esnli

    connection = _connection(home)
    _, records = read_esnli(folder, split, limit)
    accounts = ensure_annotators(_client(home), list(ANNOTATORS), home)
    with _open(store) as db:
        counts = replay(db, connection, round_id, records, accounts)
    console.print(f"round {round_id}: " + ", ".join(f"{n} {what}" for what, n in counts.items()))


def _handles(annotators: str) -> list[str]:
    handles = [a.strip() for a in annotators.split(",") if a.strip()]
    if not handles:
        raise WhysetError("--annotators: give at least one annotator handle")
    return handles


@app.command()
def push(
    kind: Annotated[str, typer.Option(help="rationale | counterfactual | qa | freetext")],
    round_id: Annotated[str, typer.Option("--round", help="Annotation round id, e.g. r1-rationale.")],
    annotators: Annotated[str, typer.Option(help="Comma-separated annotator handles.")],
    k: Annotated[int, typer.Option(help="Annotators per item (each works blind, in a project of their own).")] = 1,
    guideline: Annotated[Path | None, typer.Option(help="Guideline text (Markdown/HTML) shown in the projects.")] = None,
    guideline_version: Annotated[str, typer.Option(help="Version recorded with every annotation.")] = "v1",
    limit: Annotated[int | None, typer.Option(help="Push only the first N items.")] = None,
    batch_size: Annotated[int, typer.Option(help="Tasks per import request.")] = 500,
    home: HomeOption = DEFAULT_HOME,
    store: StoreOption = DEFAULT_STORE,
) -> None:
    """Push items with model candidates as pre-annotations; re-running never duplicates a task."""
    from whyset.annotation.accounts import ensure_annotators
    from whyset.annotation.push import Guideline, items_for, make_view
    from whyset.annotation.push import push as push_items

    client = _client(home)
    handles = _handles(annotators)
    text = guideline.read_text(encoding="utf-8") if guideline else f"Annotate the {kind} task; see the corpus README."
    with _open(store) as db:
        view = make_view(db, kind)
        items = items_for(db, view, limit)
        ensure_annotators(client, handles, home)
        report = push_items(db, client, round_id, view, items, handles, k, Guideline(text, guideline_version),
                            batch_size=batch_size)
    console.print(f"round {round_id}: {report.created} tasks created, {report.already_there} already there")
    for annotator, project_id in report.projects.items():
        console.print(f"  {annotator}: {client.url}/projects/{project_id}")


@app.command()
def pull(
    round_id: Annotated[str, typer.Option("--round", help="The round to pull.")],
    home: HomeOption = DEFAULT_HOME,
    store: StoreOption = DEFAULT_STORE,
) -> None:
    """Pull the round's annotations into the store; invalid ones are reported and kept aside."""
    from whyset.annotation.pull import pull as pull_round

    with _open(store) as db:
        report = pull_round(db, _client(home), round_id)
    for problem in report.problems:
        err_console.print(f"warning: {problem}", markup=False)
    counts = ", ".join(f"{n} {status}" for status, n in sorted(report.statuses.items())) or "no annotations yet"
    console.print(f"round {round_id}: {counts}; {report.new_annotations} new annotation records")


@app.command()
def adjudicate(
    round_id: Annotated[str, typer.Option("--round", help="The pulled round to adjudicate.")],
    adjudicator: Annotated[str, typer.Option(help="Handle of the adjudicator.")],
    min_span_f1: Annotated[float, typer.Option(help="Rationales with the same label but lower overlap disagree.")] = 0.5,
    home: HomeOption = DEFAULT_HOME,
    store: StoreOption = DEFAULT_STORE,
) -> None:
    """Push items whose annotators disagree to an adjudication project that shows all their answers."""
    from whyset.annotation.accounts import ensure_annotators
    from whyset.annotation.adjudication import adjudication_items, disagreements
    from whyset.annotation.push import Guideline, items_for, make_view, round_details
    from whyset.annotation.push import push as push_items

    client = _client(home)
    with _open(store) as db:
        kinds = db.con.execute("SELECT DISTINCT kind FROM studio_projects WHERE round_id = ?", [round_id]).fetchall()
        if len(kinds) != 1:
            raise WhysetError(f"round {round_id!r}: expected one pushed task kind, found {len(kinds)}")
        view = make_view(db, kinds[0][0], adjudication=True)
        conflicts = disagreements(db, round_id, min_span_f1)
        if not conflicts:
            console.print(f"round {round_id}: no disagreements; nothing to adjudicate")
            return
        items = {item.key: item for item in items_for(db, view)}
        details = round_details(db, round_id)
        ensure_annotators(client, [adjudicator], home)
        report = push_items(db, client, f"{round_id}-adjudication", view,
                            adjudication_items(items, conflicts), [adjudicator], 1,
                            Guideline(details.get("guideline", ""), f"{details['guideline_version']}+adjudication"),
                            round_kind="adjudication")
    console.print(f"round {round_id}: {len(conflicts)} items disagree; {report.created} adjudication tasks at "
                  f"{client.url}/projects/{report.projects[adjudicator]}")
