"""What importing source examples does to the stored ones: each row is matched to a stored source by its
identity (:class:`~whyset.corpora.schema.SourceExample`), so re-importing a refreshed file adds only what is
new, and the import says what is new, changed, unchanged and gone.

* new: an identity the store does not hold yet; stored.
* changed: a stored identity with other text, label, licence or attribution. Updated in place, unless its text
  or label changed and stored records refer to it (candidates, annotations, Label Studio tasks, build logs):
  those were made on the old text (offsets, labels), so the import stops instead of orphaning them.
* unchanged: the same; only its row number follows the file.
* gone: stored for an imported dataset split but not in the input. Kept, with whatever refers to it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from whyset.corpora.schema import ContentIdentities, SourceExample
from whyset.errors import BadInput

if TYPE_CHECKING:
    from whyset.corpora.store import CorpusStore

_REFERRING = ("candidates", "annotations", "studio_tasks", "rejected_candidates", "build_log")


@dataclass(frozen=True)
class SourceChanges:
    """Counts of an import; ``gone`` is None when the input was a slice (``--limit``), not the whole split.
    ``stored_ids`` maps an incoming id to the id its source is stored under, where they differ (sources stored
    before identities existed keep their ids)."""

    new: int = 0
    changed: int = 0
    unchanged: int = 0
    gone: int | None = None
    stored_ids: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Stored:
    id: str
    row: int
    fields: dict[str, str]
    label: str | None
    license: str | None
    attribution: str | None


@dataclass
class SourcePlan:
    """The rows to insert and to update, and the counts to report."""

    insert: list[SourceExample] = field(default_factory=list)
    update: list[SourceExample] = field(default_factory=list)  # incoming content under the stored id
    changes: SourceChanges = field(default_factory=SourceChanges)


def plan_sources(store: CorpusStore, sources: Sequence[SourceExample], where: Sequence[str],
                 complete: bool) -> SourcePlan:
    """Match the incoming sources to the stored ones; raises BadInput (naming the row) where an import would
    orphan stored records or mix identity schemes in one dataset split."""
    groups = {(s.dataset, s.split) for s in sources}
    stored = {group: _stored(store, *group) for group in sorted(groups)}
    _same_scheme(stored, sources, where)
    plan, counts, seen = SourcePlan(), {"new": 0, "changed": 0, "unchanged": 0}, set()
    content_changed: list[tuple[SourceExample, _Stored, str]] = []
    stored_ids = {}
    for source, place in zip(sources, where, strict=True):
        key = _key(source)
        seen.add((source.dataset, source.split, key))
        old = stored[source.dataset, source.split].get(key)
        if old is None:
            plan.insert.append(source)
            counts["new"] += 1
            continue
        if old.id != source.id:
            stored_ids[source.id] = old.id
        differs = _content_differs(source, old)
        if differs:
            content_changed.append((source, old, f"{place}: field {differs!r}"))
        if differs or (source.license, source.attribution) != (old.license, old.attribution):
            counts["changed"] += 1
        else:
            counts["unchanged"] += 1
        if differs or (source.row, source.license, source.attribution) != (old.row, old.license, old.attribution):
            plan.update.append(source.model_copy(update={"id": old.id}))
    _refuse_orphans(store, content_changed)
    gone = sum(1 for group, by_key in stored.items() for key in by_key if (*group, key) not in seen)
    plan.changes = SourceChanges(**counts, gone=gone if complete else None, stored_ids=stored_ids)
    return plan


def backfill_identities(store: CorpusStore) -> list[tuple[str, str]]:
    """(id, identity) for sources stored before identities existed (schema 6): their content identity, with
    occurrences numbered in row order, which is what re-importing their file computes."""
    rows = store.execute("SELECT id, dataset, split, fields, label FROM sources WHERE identity IS NULL "
                         "ORDER BY dataset, split, row, id")
    identities = ContentIdentities()
    return [(sid, identities(dataset, split, json.loads(fields), label)) for sid, dataset, split, fields, label in rows]


def _key(source: SourceExample) -> str:
    return source.identity or f"id:{source.id}"


def _stored(store: CorpusStore, dataset: str, split: str) -> dict[str, _Stored]:
    rows = store.execute("SELECT coalesce(identity, 'id:' || id), id, row, fields, label, license, attribution "
                         "FROM sources WHERE dataset = ? AND split = ?", [dataset, split])
    return {key: _Stored(sid, row, json.loads(fields), label, lic, att)
            for key, sid, row, fields, label, lic, att in rows}


def _same_scheme(stored: dict[tuple[str, str], dict[str, Any]], sources: Sequence[SourceExample],
                 where: Sequence[str]) -> None:
    """A split imported with a key column must be re-imported with it (and without, without): the two kinds
    of identity never match, so mixing them would duplicate every row."""
    kept = {group: {key.partition(":")[0] for key in by_key} & {"key", "content"} for group, by_key in stored.items()}
    for source, place in zip(sources, where, strict=True):
        scheme, schemes = _key(source).partition(":")[0], kept[source.dataset, source.split]
        if scheme in ("key", "content") and schemes and scheme not in schemes:
            how = "with" if "key" in schemes else "without"
            raise BadInput(f"{place}: {source.dataset}/{source.split} was imported {how} --id-column; import it "
                           "the same way (rows are matched to stored sources by that key, or else by content)")


def _content_differs(source: SourceExample, old: _Stored) -> str | None:
    """The first text field (or 'label') whose value changed, if any."""
    for name in sorted(set(source.fields) | set(old.fields)):
        if source.fields.get(name) != old.fields.get(name):
            return name
    return "label" if source.label != old.label else None


def _describe(source: SourceExample, old: _Stored) -> str:
    scheme, _, value = _key(source).partition(":")
    return f"with key {value!r}" if scheme == "key" else old.id


def _refuse_orphans(store: CorpusStore, changed: list[tuple[SourceExample, _Stored, str]]) -> None:
    if not changed:
        return
    union = " UNION ALL ".join(f"SELECT source_id FROM {table}" for table in _REFERRING)
    referred = dict(store.execute(f"SELECT source_id, count(*) FROM ({union}) WHERE source_id IN "
                                  "(SELECT unnest(?::VARCHAR[])) GROUP BY source_id", [[o.id for _, o, _ in changed]]))
    for source, old, place in changed:
        if referred.get(old.id):
            raise BadInput(f"{place}: source {_describe(source, old)} changed since it was imported, and "
                           f"{referred[old.id]} stored record(s) refer to its old text (candidates, annotations, "
                           "Label Studio tasks); import the edited rows under a new key or split instead")
