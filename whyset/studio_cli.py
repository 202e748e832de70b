"""Command line for the Label Studio side: ``whyset studio ...``, ``push``, ``pull`` and ``adjudicate``, each a
few lines over :class:`whyset.Corpus` and :class:`whyset.Studio`."""

from __future__ import annotations

import json
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
def studio_status(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object: per server its URL, Label Studio "
                                          "version, database, admin token and the projects of every round.")
                       ] = False,
    home: HomeOption = None,
    store: StoreOption = DEFAULT_STORE,
) -> None:
    """Show each annotator's server; exit 4 when there is none or one does not answer."""
    from whyset.annotation.client import StudioClient

    studio = open_studio(home, store)
    if not studio.servers:
        raise ServerUnreachable(f"no Label Studio running or connected for {studio.home} "
                                "(`whyset push` starts annotators' servers; or `whyset studio up HANDLES`, "
                                "`whyset studio connect URL --token T`)")
    projects = []
    if store.exists():
        with open_corpus(store) as corpus:
            projects = corpus.store.studio.projects()
    servers = {}
    for handle, connection in sorted(studio.servers.items()):
        client = StudioClient(connection)
        client.whoami()
        if not as_json:
            _show(handle, connection)
            continue
        servers[handle] = {
            "url": connection.url, "version": client.version(),
            "database": "remote" if connection.remote else connection.database, "admin_token": connection.token,
            "server_id": connection.server_id, "pid": connection.pid,
            "projects": [{"round": p.round_id, "kind": p.kind, "annotator": p.annotator, "project_id": p.project_id,
                          "link": f"{connection.url}/projects/{p.project_id}"}
                         for p in projects if p.server == connection.server_id]}
    if as_json:
        console.print(json.dumps({"home": str(studio.home), "servers": servers}, indent=2))


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
    batch_size: Annotated[int | None, typer.Option(help="Tasks per import request (default 5000).")] = None,
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
    counts = ", ".join(f"{n} {status}" for status, n in sorted(report.statuses.items())) or "nothing new"
    changes = "".join(f", {n} {what}" for what, n in (("edited", report.edited), ("deleted", report.deleted)) if n)
    console.print(f"round {round_id}: {counts}{changes}; {report.new_annotations} new annotation records "
                  f"({report.tasks} changed tasks read)")


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


@app.command(rich_help_panel="Label Studio")
def reassign(
    round_id: Annotated[str, typer.Option("--round", help="The running round.")],
    leave: Annotated[list[str] | None, typer.Option(help="An annotator who leaves (repeatable).")] = None,
    join: Annotated[list[str] | None, typer.Option(help="An annotator who joins (repeatable).")] = None,
    home: HomeOption = None,
    store: StoreOption = DEFAULT_STORE,
) -> None:
    """Change who annotates a running round: a leaver's unstarted tasks, and a fair share of the others' for a
    newcomer, are dealt again (blind, k distinct annotators per item). Re-running changes nothing."""
    studio = open_studio(home, store)
    with open_corpus(store) as corpus:
        report = corpus.reassign(studio, round_id, leave or [], join or [])
    moved = ", ".join(f"{a} -{n}" for a, n in report.withdrawn.items() if n)
    given = ", ".join(f"{a} +{n}" for a, n in report.given.items() if n)
    console.print(f"round {round_id}: annotators {', '.join(report.annotators)}; "
                  f"tasks withdrawn: {moved or 'none'}; given: {given or 'none'}")
    if report.kept:
        warn(f"{report.kept} tasks were started meanwhile and stay with their annotator")
    if report.short:
        warn(f"{len(report.short)} items have fewer annotators than k: nobody left has not seen them")


@app.command("status", rich_help_panel="Label Studio")
def round_status(
    round_id: Annotated[str, typer.Option("--round", help="The round to show.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    store: StoreOption = DEFAULT_STORE,
) -> None:
    """How far a round is, per annotator, as of its last pull: done, skipped, remaining, median lead time,
    agreement so far and control-item accuracy."""
    with open_corpus(store) as corpus:
        status = corpus.status(round_id)
    if as_json:
        console.print(json.dumps(status.as_dict(), indent=2))
        return
    when = status.as_of.strftime("%Y-%m-%d %H:%M UTC") if status.as_of else "never pulled"
    console.print(f"round {round_id} ({status.kind}), as of the last pull ({when}):")
    for family, value in status.agreement.items():
        console.print(f"  agreement so far: {family} {_fmt(value)}")
    console.print("  annotator      assigned  done  skipped  remaining  median lead s  agreement  controls")
    for annotator, row in status.annotators.items():
        agreement = next((row[k] for k in row if k.endswith("_agreement") and row[k] is not None), None)
        control = row["controls"]
        accuracy = f"{control['correct']}/{control['answered']} ({_fmt(control['accuracy'])})" if control[
            "controls"] else "-"
        console.print(f"  {annotator:<14} {row['assigned']:>8}  {row['done']:>4}  {row['skipped']:>7}  "
                      f"{row['remaining']:>9}  {_fmt(row['median_lead_time_s'], 1):>13}  {_fmt(agreement):>9}  "
                      f"{accuracy}")
    for annotator in status.left:
        console.print(f"  {annotator} left the round")


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"
