"""A round as a campaign whose team changes while it runs (how far a round is, is
:mod:`whyset.validators.round_status`).

``reassign`` changes who annotates a round. It pulls first (so work done meanwhile is not taken away), then:
annotators who leave have their unstarted tasks withdrawn (deleted from their project, kept in the store as
withdrawn); annotators who join get a project; unstarted tasks move from the busiest annotators to the least
busy until loads are within one; finally every item short of k holders goes to the least-loaded annotators
who never held it. Nobody ever receives an item they held before, and a task carries only the item, so
nobody sees another's answer. Every step is computed from the store's state, so a re-run (or a run after a
crash halfway) finishes the job and then changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from whyset.annotation.assignment import check_team, fill, rebalance
from whyset.annotation.pull import pull
from whyset.annotation.push import (
    BATCH_SIZE,
    Guideline,
    Holdings,
    PushReport,
    Task,
    control_tasks,
    deliver,
    ensure_project,
    items_for,
    order_tasks,
)
from whyset.annotation.studio import Studio, annotator_email, check_handle
from whyset.annotation.views import TaskView, make_view
from whyset.corpora.store import CorpusStore
from whyset.corpora.store_studio import Holding
from whyset.errors import BadInput


@dataclass
class ReassignReport:
    withdrawn: dict[str, int] = field(default_factory=dict)  # annotator -> tasks taken back
    kept: int = 0  # tasks an annotator had started meanwhile (left with them)
    given: dict[str, int] = field(default_factory=dict)  # annotator -> tasks received
    short: list[str] = field(default_factory=list)  # items with fewer than k annotators left to give them to
    annotators: list[str] = field(default_factory=list)


def reassign(store: CorpusStore, studio: Studio, round_id: str, leave: Sequence[str] = (),
             join: Sequence[str] = ()) -> ReassignReport:
    """Annotators leave or join a round mid-way; their work is dealt again, blind, k distinct per item."""
    round_ = store.round(round_id)
    if round_.kind == "adjudication" or "annotators" not in round_.details:
        raise BadInput(f"round {round_id!r}: only annotation rounds pushed by whyset can be reassigned "
                       "(adjudicate again to change an adjudicator)")
    details = dict(round_.details)
    rejoining = set(join) & set(details.get("left", []))
    if rejoining:
        raise BadInput(f"--join {min(rejoining)}: left round {round_id!r} before; use another handle")
    left = sorted({*details.get("left", []), *map(check_handle, leave)})
    team = [a for a in {**details["annotators"], **dict.fromkeys(map(check_handle, join))} if a not in left]
    check_team(team, details["k"])
    [kind] = store.studio.kinds(round_id)
    view = make_view(store, kind)
    pull(store, studio, round_id)  # work done meanwhile stays with whoever did it
    details |= {"annotators": details["annotators"] | {a: annotator_email(a) for a in team}, "left": left}
    with store.transaction():
        store.update_round(round_id, details)

    report = ReassignReport(annotators=team)
    holdings = store.studio.holdings(round_id)
    _withdraw(store, studio, [h for h in _unstarted(holdings) if h.annotator in left], report)
    _give(store, studio, round_id, view, team, details, report)
    holdings = store.studio.holdings(round_id)
    unstarted = {(h.annotator, h.task.item_key): h for h in _unstarted(holdings) if h.task.control_answer is None}
    queues = {a: [key for who, key in unstarted if who == a] for a in team}
    moves = rebalance(queues, Holdings.of(holdings).seen, round_id)
    _withdraw(store, studio, [unstarted[(donor, key)] for key, donor, _ in moves], report)
    _give(store, studio, round_id, view, team, details, report)
    return report


def _unstarted(holdings: Sequence[Holding]) -> list[Holding]:
    return [h for h in holdings if not h.task.withdrawn and not h.answered]


def _withdraw(store: CorpusStore, studio: Studio, take: Sequence[Holding], report: ReassignReport) -> None:
    """Delete the tasks from their projects, except any their annotator started meanwhile; mark them withdrawn
    (each annotator's tasks of a round are in one project)."""
    for annotator in sorted({h.annotator for h in take}):
        mine = [h for h in take if h.annotator == annotator]
        client = studio.client(annotator)
        gone = [h.task.task_id for h in mine if client.withdraw_task(h.task.task_id) != "kept"]
        with store.transaction():
            store.studio.withdraw(mine[0].server, mine[0].task.project_id, gone)
        report.withdrawn[annotator] = report.withdrawn.get(annotator, 0) + len(gone)
        report.kept += len(mine) - len(gone)


def _give(store: CorpusStore, studio: Studio, round_id: str, view: TaskView, team: list[str],
          details: dict[str, Any], report: ReassignReport) -> None:
    """Every item short of k holders to the least-loaded team members who never held it (controls topped up)."""
    state = Holdings.of(store.studio.holdings(round_id))
    plan = fill(list(state.seen), team, details["k"], state.holders, state.seen, state.remaining, seed=round_id)
    report.short = sorted(set(report.short) | set(plan.short))
    needed = {key for given in plan.give.values() for key in given}
    items = {item.key: item for item in items_for(store, view) if item.key in needed}
    todo = {a: [Task(items[key]) for key in plan.give[a]] for a in team}
    if details.get("controls"):
        for annotator, tasks in control_tasks(store, view, round_id, details["controls"], state, plan, team).items():
            todo[annotator] += tasks
    guideline = Guideline(details.get("guideline", ""), store.round(round_id).guideline_version or "v1")
    receivers = [a for a in team if todo[a]]
    studio.accounts(receivers)
    for annotator in receivers:
        client = studio.client(annotator)
        project_id, new = ensure_project(store, client, round_id, view, annotator, view.config(), guideline)
        delivered = PushReport(projects={}, created=0, already_there=0)
        deliver(store, client, view, project_id, order_tasks(todo[annotator], f"{round_id}:{annotator}"), BATCH_SIZE,
                delivered, new_project=new)
        report.given[annotator] = report.given.get(annotator, 0) + delivered.created + delivered.controls
        details["servers"] = details.get("servers", {}) | {annotator: client.server_id}
    with store.transaction():
        store.update_round(round_id, details)
