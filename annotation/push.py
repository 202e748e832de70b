"""``whyset push``: store items -> Label Studio tasks with model candidates as predictions.

Blind multi-annotator work: the open-source edition has no overlap control and shows every annotation in a
project to everyone who opens it, so each item goes to k annotators and each annotator gets a project of
their own for the round (titled ``<round> · <annotator>``). Nobody's project contains anybody
else's work; ``studio_tasks`` x ``studio_projects`` records who was shown what.

Idempotency: every task carries ``whyset_key`` in its data. Before importing, the project's tasks are listed
and keys already present are skipped, so a push that died after the server committed a batch but before the
store recorded it (or a push re-run for any reason) never duplicates a task. The SDK's own POST retries are
off (see :mod:`whyset.annotation.client`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from whyset.annotation.client import StudioClient
from whyset.annotation.studio import Studio, annotator_email
from whyset.annotation.views import TaskView, view_for
from whyset.corpora.kinds.rationale import Rationale
from whyset.corpora.progress import progress
from whyset.corpora.schema import ExplanationRecord, SourceExample
from whyset.corpora.store import CorpusStore
from whyset.corpora.store_studio import StudioProject, StudioTask
from whyset.errors import WhysetError


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


def assign(keys: Sequence[str], annotators: Sequence[str], k: int, seed: str = "") -> dict[str, list[str]]:
    """Each key to exactly k distinct annotators, balanced (loads differ by at most one) and deterministic:
    keys are ordered by a seeded hash, then dealt round-robin, so re-running assigns the same way."""
    if not 1 <= k <= len(annotators):
        raise WhysetError(f"--k {k}: must be between 1 and the number of annotators ({len(annotators)})")
    if len(set(annotators)) != len(annotators):
        raise WhysetError(f"--annotators: duplicate names in {list(annotators)}")
    order = sorted(keys, key=lambda key: hashlib.sha256(f"{seed}:{key}".encode()).hexdigest())
    assignment: dict[str, list[str]] = {a: [] for a in annotators}
    for i, key in enumerate(order):
        for j in range(k):
            assignment[annotators[(i * k + j) % len(annotators)]].append(key)
    return assignment


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


def source_fields(store: CorpusStore) -> list[str]:
    """Text-field names shared by the store's examples, in their stored order (one config per corpus)."""
    names: list[str] | None = None
    for source in store.iter_sources():
        if names is None:
            names = list(source.fields)
        elif list(source.fields) != names:
            raise WhysetError(f"source {source.id}: fields {list(source.fields)} differ from {names}; "
                              "push needs one field layout per store")
    if names is None:
        raise WhysetError(f"{store.path}: no source examples to annotate (import some first)")
    return names


def make_view(store: CorpusStore, kind: str, adjudication: bool = False) -> TaskView:
    """The task view of ``kind`` for this store's fields and labels (and its free-text question, if set)."""
    return view_for(kind, source_fields(store), store.labels, store.freetext_question, adjudication)


@dataclass
class PushReport:
    projects: dict[str, int]  # annotator -> project id on their server
    created: int
    already_there: int
    links: dict[str, str] = field(default_factory=dict)  # annotator -> the project's page


def push(store: CorpusStore, studio: Studio, round_id: str, view: TaskView, items: Sequence[Item],
         annotators: Sequence[str], k: int, guideline: Guideline, batch_size: int = 500,
         round_kind: str | None = None) -> PushReport:
    """Create (or find) each annotator's project on their own server and import their assigned items, in
    batches. Every server is checked (reachable, this server's own admin token) before the store is touched."""
    if not items:
        raise WhysetError(f"nothing to push for kind {view.kind!r} (no matching candidates or sources)")
    by_key = {item.key: item for item in items}
    assignment = assign(list(by_key), annotators, k, seed=round_id)
    config = view.config()
    other = store.studio.kinds(round_id) - {view.kind}
    if other:
        raise WhysetError(f"round {round_id!r} already holds {other.pop()} tasks; push {view.kind} to another round")
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
                                 "guideline_sha256": guideline.sha256, "guideline": guideline.text})
    report = PushReport(projects={}, created=0, already_there=0)
    total = sum(len(keys) for keys in assignment.values())
    bar = iter(progress(range(total), f"pushing {view.kind} tasks", total=total))
    for annotator, keys in assignment.items():
        client = clients[annotator]
        project_id = ensure_project(store, client, round_id, view, annotator, config, guideline)
        report.projects[annotator] = project_id
        report.links[annotator] = f"{client.url}/projects/{project_id}"
        present = client.task_keys(project_id)
        _record_tasks(store, client.server_id, project_id, [(key, present[key]) for key in keys if key in present],
                      by_key)
        report.already_there += sum(key in present for key in keys)
        todo = [key for key in keys if key not in present]
        for _ in range(len(keys) - len(todo)):
            next(bar, None)
        for start in range(0, len(todo), batch_size):
            batch = todo[start:start + batch_size]
            task_ids = client.import_tasks(project_id, [_task(view, by_key[key]) for key in batch])
            if len(task_ids) != len(batch):
                raise WhysetError(f"project {project_id}: imported {len(batch)} tasks but the server returned "
                                  f"{len(task_ids)} ids; re-run push to reconcile")
            _record_tasks(store, client.server_id, project_id, list(zip(batch, task_ids, strict=True)), by_key)
            report.created += len(batch)
            for _ in batch:
                next(bar, None)
    for _ in bar:
        pass
    return report


def ensure_project(store: CorpusStore, client: StudioClient, round_id: str, view: TaskView, annotator: str,
                   config: str, guideline: Guideline) -> int:
    """The annotator's project for this round: from the store, else found on the server by title, else new."""
    known = [p for p in store.studio.projects(round_id, client.server_id)
             if p.kind == view.kind and p.annotator == annotator]
    if known:
        if known[0].label_config != config:
            raise WhysetError(f"round {round_id!r}: the labeling config for {view.kind} changed since project "
                              f"{known[0].project_id} was created; push to a new round instead")
        return known[0].project_id
    title = project_title(round_id, annotator)
    project_id = client.find_project(title)
    if project_id is None:
        description = (f"whyset round {round_id} ({view.kind}), guideline {guideline.version}, "
                       f"annotator {annotator}")
        project_id = client.create_project(title, config, guideline.text, description)
    with store.transaction():
        store.studio.add_project(StudioProject(client.server_id, project_id, title, round_id, view.kind, annotator,
                                               config, guideline.version))
    return project_id


def _task(view: TaskView, item: Item) -> dict[str, Any]:
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


def _record_tasks(store: CorpusStore, server: str, project_id: int, pairs: Iterable[tuple[str, int]],
                  by_key: dict[str, Item]) -> None:
    store.studio.add_tasks(server, [
        StudioTask(project_id, task_id, key, by_key[key].source.id,
                   by_key[key].candidate.id if by_key[key].candidate else None) for key, task_id in pairs])
