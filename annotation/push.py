"""``whyset push``: store items -> Label Studio tasks with model candidates as predictions.

Blind multi-annotator work: the open-source edition has no overlap control and shows every annotation in a
project to everyone who opens it, so each item goes to k annotators and each annotator gets a project of
their own for the round (titled ``<round> · <annotator>``). Nobody's project contains anybody
else's work; ``studio_tasks`` x ``studio_projects`` records who was shown what.

Idempotency: every task carries ``whyset_key`` in its data, and the store records each batch as soon as the
server answers. Before importing, the project's task count is compared with the store's; when they differ
(a push that died after the server committed a batch but before the store recorded it), the project's keys
are listed and keys already present are skipped, so a push re-run for any reason never duplicates a task.
The SDK's own POST retries are off (see :mod:`whyset.annotation.client`).

Speed: one import call per 5,000 tasks (the server pays a fixed cost per request), bulk store writes,
and no listing when the counts agree, so a push costs what the SDK's own import of the same tasks costs
(``make bench-studio`` measures both side by side).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from whyset.annotation.assignment import Plan, check_team, fill, order
from whyset.annotation.client import StudioClient
from whyset.annotation.studio import Studio, annotator_email
from whyset.annotation.views import TaskView
from whyset.corpora.kinds.rationale import Rationale
from whyset.corpora.progress import progress
from whyset.corpora.schema import ExplanationRecord, SourceExample
from whyset.corpora.store import CorpusStore
from whyset.corpora.store_studio import Holding, StudioProject, StudioTask
from whyset.errors import BadInput, WhysetError

BATCH_SIZE = 5000  # tasks per import request: the server pays ~0.15 s per request (3,000 tasks in 3 calls: +40%)


@dataclass(frozen=True)
class Item:
    """One unit of annotation work: a source example, optionally the candidate under review, and the
    candidates offered as pre-annotations."""

    key: str
    source: SourceExample
    candidate: ExplanationRecord | None = None
    predictions: tuple[ExplanationRecord, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)
    prefilled: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # model_version -> ready result


@dataclass(frozen=True)
class Guideline:
    text: str
    version: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    @classmethod
    def from_file(cls, path: Path, version: str) -> Guideline:
        """Guideline text (Markdown or HTML) from a file; errors name the file."""
        try:
            return cls(path.read_text(encoding="utf-8"), version)
        except FileNotFoundError:
            raise WhysetError(f"{path}: no such guideline file") from None
        except UnicodeDecodeError as exc:
            raise WhysetError(f"{path}: not UTF-8 text (byte {exc.start})") from None


def project_title(round_id: str, annotator: str) -> str:
    """``<round> · <annotator>``; Label Studio refuses titles over 50 characters, so a long one is cut and
    made unique again with a short hash (the full round and kind are in the project description)."""
    title = f"{round_id} · {annotator}"
    if len(title) <= 50:
        return title
    return f"{title[:43]}~{hashlib.sha256(title.encode()).hexdigest()[:6]}"


def items_for(store: CorpusStore, view: TaskView, limit: int | None = None) -> list[Item]:
    """The round's work items, in dataset/split/row order (so ``limit`` N means the first N examples, as in
    a build recipe): per candidate for reviews, per source example otherwise (with all of that example's
    candidates of the matching kind as alternative pre-annotations)."""
    by_source: dict[str, list[ExplanationRecord]] = {}
    for record in store.iter_explanations("candidate", view.explanation_kind):
        by_source.setdefault(record.source_id, []).append(record)
    order = store.source_ids_in_order()
    if view.per_candidate:
        order = [sid for sid in order if sid in by_source]
    wanted = order if limit is None or view.per_candidate else order[:limit]
    sources = store.sources_by_id(wanted)
    if view.per_candidate:
        items = [Item(c.id, sources[sid], c, (c,)) for sid in wanted for c in by_source[sid]]
        return items[:limit] if limit is not None else items
    return [Item(sid, sources[sid], None, tuple(by_source.get(sid, ()))) for sid in wanted]


@dataclass
class PushReport:
    projects: dict[str, int]  # annotator -> project id on their server
    created: int
    already_there: int
    links: dict[str, str] = field(default_factory=dict)  # annotator -> the project's page
    controls: int = 0  # control tasks created
    short: list[str] = field(default_factory=list)  # items that could not reach k distinct annotators
    gone: int = 0  # recorded tasks found deleted from their project (marked withdrawn)


@dataclass(frozen=True)
class Task:
    """One task to create: the item, and its known answer when it is a control item."""

    item: Item
    control_answer: str | None = None


def push(store: CorpusStore, studio: Studio, round_id: str, view: TaskView, items: Sequence[Item],
         annotators: Sequence[str], k: int, guideline: Guideline, batch_size: int = BATCH_SIZE,
         round_kind: str | None = None, controls: float = 0.0, details: dict[str, Any] | None = None) -> PushReport:
    """Create (or find) each annotator's project on their own server and import their share of the items, in
    batches, with ``controls`` (a share of each queue) known-answer items mixed in. Items the round already
    holds stay where they are; a round's annotators change only through :func:`whyset.annotation.campaign.
    reassign`. Every server is checked (reachable, this server's own admin token) before the store is touched."""
    if not items:
        raise WhysetError(f"nothing to push for kind {view.kind!r} (no matching candidates or sources)")
    check_team(annotators, k)
    other = store.studio.kinds(round_id) - {view.kind}
    if other:
        raise WhysetError(f"round {round_id!r} already holds {other.pop()} tasks; push {view.kind} to another round")
    _check_same_round(store, round_id, annotators, k, controls)
    holdings = store.studio.holdings(round_id)
    control_keys = {h.task.item_key for h in holdings if h.task.control_answer is not None}
    by_key = {item.key: item for item in items if item.key not in control_keys}
    state = Holdings.of(holdings)
    plan = fill(list(by_key), annotators, k, state.holders, state.seen, state.load, seed=round_id)
    todo = {a: [Task(by_key[key]) for key in keys] for a, keys in plan.give.items()}
    if controls:
        for annotator, tasks in control_tasks(store, view, round_id, controls, state, plan, annotators).items():
            todo[annotator] += tasks
    if studio.blind:
        studio.up(annotators)  # their servers, started together
    clients = {a: studio.client(a) for a in annotators}
    for client in clients.values():
        client.whoami()  # an unreachable server or a wrong token fails here, before the store is touched
    with store.transaction():
        store.add_round(round_id, f"Label Studio {view.kind} round", round_kind or view.kind,
                        guideline_version=guideline.version,
                        details={"servers": {a: c.server_id for a, c in clients.items()}, "blind": studio.blind,
                                 "annotators": {a: annotator_email(a) for a in annotators}, "k": k,
                                 "controls": controls, "guideline_sha256": guideline.sha256,
                                 "guideline": guideline.text} | (details or {}))
    report = PushReport(projects={}, created=0, already_there=sum(
        len(state.active.get(a, set()) & set(by_key)) for a in annotators), short=plan.short)
    for annotator in progress(annotators, f"pushing {view.kind} tasks"):
        client = clients[annotator]
        project_id, new = ensure_project(store, client, round_id, view, annotator, view.config(), guideline)
        report.projects[annotator] = project_id
        report.links[annotator] = f"{client.url}/projects/{project_id}"
        deliver(store, client, view, project_id, order_tasks(todo[annotator], f"{round_id}:{annotator}"),
                batch_size, report, new_project=new)
    return report


def _check_same_round(store: CorpusStore, round_id: str, annotators: Sequence[str], k: int, controls: float) -> None:
    """A round keeps its team, k and control share: pushing it again only adds items."""
    known = {r.id: r for r in store.rounds()}.get(round_id)
    if known is None or "annotators" not in known.details:
        return
    team = [a for a in known.details["annotators"] if a not in known.details.get("left", [])]
    if sorted(team) != sorted(annotators):
        raise BadInput(f"round {round_id!r} is annotated by {', '.join(sorted(team))}: change who annotates it "
                       f"with `whyset reassign --round {round_id} --join H / --leave H`")
    if known.details.get("k", k) != k or known.details.get("controls", 0.0) != controls:
        raise BadInput(f"round {round_id!r} was pushed with --k {known.details.get('k')} and --controls "
                       f"{known.details.get('controls', 0.0)}; push other settings to a new round")


@dataclass
class Holdings:
    """A round's tasks by item (corpus items only): who holds each now, who ever held it, the load per
    annotator (all their tasks, or those not started yet), and each annotator's current items."""

    holders: dict[str, set[str]] = field(default_factory=dict)
    seen: dict[str, set[str]] = field(default_factory=dict)
    load: dict[str, int] = field(default_factory=dict)
    remaining: dict[str, int] = field(default_factory=dict)
    active: dict[str, set[str]] = field(default_factory=dict)
    controls: dict[str, set[str]] = field(default_factory=dict)  # annotator -> control items ever held

    @classmethod
    def of(cls, holdings: Iterable[Holding]) -> Holdings:
        state = cls()
        for h in holdings:
            key = h.task.item_key
            if h.task.control_answer is not None:
                state.controls.setdefault(h.annotator, set()).add(key)
                continue
            state.seen.setdefault(key, set()).add(h.annotator)
            if not h.task.withdrawn:
                state.holders.setdefault(key, set()).add(h.annotator)
                state.active.setdefault(h.annotator, set()).add(key)
                state.load[h.annotator] = state.load.get(h.annotator, 0) + 1
                state.remaining[h.annotator] = state.remaining.get(h.annotator, 0) + (not h.answered)
        return state


def control_tasks(store: CorpusStore, view: TaskView, round_id: str, share: float, state: Holdings, plan: Plan,
                  annotators: Sequence[str]) -> dict[str, list[Task]]:
    """Known-answer items for each annotator: ``share`` of their queue (at least one), the same items for
    everybody (so their accuracies compare), drawn from the store's items that are not in the round."""
    if not 0 < share < 1:
        raise BadInput(f"--controls {share}: give the share of each queue, between 0 and 1 (e.g. 0.1)")
    if not view.controls_supported:
        raise BadInput(f"--controls: {view.kind} tasks have no known answer to check (control items need a view "
                       "whose decision is a label, e.g. rationale)")
    in_round = set(state.seen) | {key for keys in plan.give.values() for key in keys}
    items = {item.key: item for item in items_for(store, view)
             if item.key not in in_round and view.known_answer(item.source)}
    pool = order(items, f"{round_id}:controls")
    found: dict[str, list[Task]] = {}
    for annotator in annotators:
        queue = len(state.active.get(annotator, ())) + len(plan.give.get(annotator, ()))
        wanted = max(1, round(share * queue)) if queue else 0
        if wanted > len(pool):
            raise BadInput(f"--controls {share}: {annotator} needs {wanted} control items with a known answer "
                           f"outside the round, the store has {len(pool)} (push fewer items with --limit)")
        have = state.controls.get(annotator, set())
        found[annotator] = [Task(items[key], view.known_answer(items[key].source))
                            for key in pool[:wanted] if key not in have][:max(0, wanted - len(have))]
    return found


def order_tasks(tasks: Sequence[Task], seed: str) -> list[Task]:
    """Control items mixed in among the others (Label Studio shows tasks in import order)."""
    by_key = {task.item.key: task for task in tasks}
    return [by_key[key] for key in order(by_key, seed)]


def deliver(store: CorpusStore, client: StudioClient, view: TaskView, project_id: int, tasks: Sequence[Task],
            batch_size: int, report: PushReport, new_project: bool = False) -> None:
    """Import the tasks the project lacks, recording each batch in the store in one statement.

    Idempotent: when the server's task count equals the store's, the store knows the project exactly and
    nothing is listed (listing costs 3-9 ms per task, the count 0.05-0.1 s; a project created by this push
    is known to be empty and not counted). When they differ (a batch the server
    committed but whose answer never arrived, or tasks deleted in the project), the project's keys are listed
    once: tasks already there are recorded instead of imported again, and recorded tasks gone from the server
    are marked withdrawn (``reassign`` then gives their items to others)."""
    server = client.server_id
    recorded = {t.item_key: t for t in store.studio.tasks(server, project_id, withdrawn=True)}
    todo = [t for t in tasks if t.item.key not in recorded]
    if not new_project and client.task_count(project_id) != store.studio.task_count(server, project_id):
        present = client.task_keys(project_id)
        found = [t for t in todo if t.item.key in present]
        _record(store, server, project_id, [(t, present[t.item.key]) for t in found])
        gone = [t.task_id for key, t in recorded.items() if not t.withdrawn and key not in present]
        store.studio.withdraw(server, project_id, gone)
        report.already_there += len(found)
        report.gone += len(gone)
        todo = [t for t in todo if t.item.key not in present]
    for start in range(0, len(todo), batch_size):
        batch = todo[start:start + batch_size]
        task_ids = client.import_tasks(project_id, [task_payload(view, t.item) for t in batch])
        if len(task_ids) != len(batch):
            raise WhysetError(f"project {project_id}: imported {len(batch)} tasks but the server returned "
                              f"{len(task_ids)} ids; re-run push to reconcile")
        _record(store, server, project_id, list(zip(batch, task_ids, strict=True)))
        report.created += sum(t.control_answer is None for t in batch)
        report.controls += sum(t.control_answer is not None for t in batch)


def ensure_project(store: CorpusStore, client: StudioClient, round_id: str, view: TaskView, annotator: str,
                   config: str, guideline: Guideline) -> tuple[int, bool]:
    """The annotator's project for this round: from the store, else found on the server by title, else new
    (and whether it is new)."""
    known = [p for p in store.studio.projects(round_id, client.server_id)
             if p.kind == view.kind and p.annotator == annotator]
    if known:
        if known[0].label_config != config:
            raise WhysetError(f"round {round_id!r}: the labeling config for {view.kind} changed since project "
                              f"{known[0].project_id} was created; push to a new round instead")
        return known[0].project_id, False
    title = project_title(round_id, annotator)
    project_id = client.find_project(title)
    new = project_id is None
    if project_id is None:
        description = (f"whyset round {round_id} ({view.kind}), guideline {guideline.version}, "
                       f"annotator {annotator}")
        project_id = client.create_project(title, config, guideline.text, description)
    with store.transaction():
        store.studio.add_project(StudioProject(client.server_id, project_id, title, round_id, view.kind, annotator,
                                               config, guideline.version))
    return project_id, new


def task_payload(view: TaskView, item: Item) -> dict[str, Any]:
    data = view.task_data(item.source, item.candidate) | item.extra | {"whyset_key": item.key}
    predictions = [{"model_version": model_version(c), "score": candidate_score(c), "result": view.prediction(c)}
                   for c in item.predictions]
    predictions += [{"model_version": name, "result": result} for name, result in item.prefilled.items()]
    return {"data": data, "predictions": [p for p in predictions if p["result"]]}


def model_version(candidate: ExplanationRecord) -> str:
    """What Label Studio shows as the pre-annotation's source: model (and revision), or the rule/agent id."""
    prov = candidate.provenance
    name = prov.model_name or prov.agent_id
    return f"{name}@{prov.model_revision}" if prov.model_revision else name


def candidate_score(candidate: ExplanationRecord) -> float | None:
    explanation = candidate.explanation
    if isinstance(explanation, Rationale):
        scores = [s.score for s in explanation.spans if s.score is not None]
        return sum(scores) / len(scores) if scores else None
    return None


def _record(store: CorpusStore, server: str, project_id: int, pairs: Sequence[tuple[Task, int]]) -> None:
    store.studio.add_tasks(server, [
        StudioTask(project_id, task_id, t.item.key, t.item.source.id, t.item.candidate.id if t.item.candidate else None,
                   t.control_answer) for t, task_id in pairs])
