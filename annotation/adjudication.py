"""Adjudication: items whose annotators disagree go to an adjudicator who sees every answer.

Disagreement is decided per item from the pulled results of a round, by a simple rule per kind until a
corpus sets validator thresholds: different decisions (label, "flips the label", verdict, or "can't
decide" against a decision), or, for rationales with the same label, evidence whose token overlap (F1 of
highlighted characters' words) is below ``min_span_f1``. Each annotator's answer becomes a prediction in
the adjudication task, named ``annotator:<handle>``, so the adjudicator can start from any of them.
"""

from __future__ import annotations

import html
import json
from collections import defaultdict
from itertools import combinations
from typing import Any

from whyset.annotation.push import Item
from whyset.corpora.schema import ExplanationRecord, Rationale
from whyset.corpora.store import CorpusStore

DECISION = {"rationale": "label", "counterfactual": "flips_label", "qa": "verdict"}


def _decision(kind: str, status: str, judgement: dict[str, Any]) -> str:
    if status == "undecided":
        return "can't decide"
    return str(judgement.get(DECISION.get(kind, ""), status))


def _word_set(rationale: Rationale) -> set[tuple[str, int]]:
    return {(s.field, s.start + i) for s in rationale.spans for i, ch in enumerate(s.text) if not ch.isspace()}


def _span_f1(a: Rationale, b: Rationale) -> float:
    x, y = _word_set(a), _word_set(b)
    return 2 * len(x & y) / (len(x) + len(y)) if x or y else 1.0


def disagreements(store: CorpusStore, round_id: str, min_span_f1: float = 0.5) -> dict[str, list[dict[str, Any]]]:
    """item key -> the annotators' results, for items with two or more decided answers that disagree."""
    rows = store.con.execute(
        "SELECT t.item_key, p.kind, r.annotator, r.status, r.judgement, r.record_id, r.raw "
        "FROM studio_results r JOIN studio_tasks t ON t.server = r.server AND t.project_id = r.project_id "
        "AND t.task_id = r.task_id JOIN studio_projects p ON p.server = r.server AND p.project_id = r.project_id "
        "WHERE r.round_id = ? AND r.status IN ('valid', 'undecided', 'rejected') ORDER BY t.item_key, r.annotator",
        [round_id]).fetchall()
    by_item: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for key, kind, annotator, status, judgement, record_id, raw in rows:
        by_item[key].append({"kind": kind, "annotator": annotator, "status": status,
                             "judgement": json.loads(judgement), "record_id": record_id,
                             "result": json.loads(raw)["annotation"].get("result", [])})
    records = {r.id: r for r in store.iter_explanations("annotation") if r.round_id == round_id}
    return {key: answers for key, answers in by_item.items()
            if len(answers) > 1 and _disagree(answers, records, min_span_f1)}


def _disagree(answers: list[dict[str, Any]], records: dict[str, ExplanationRecord], min_span_f1: float) -> bool:
    if len({_decision(a["kind"], a["status"], a["judgement"]) for a in answers}) > 1:
        return True
    rationales = [records[a["record_id"]].explanation for a in answers if a["record_id"] in records]
    pairs = [(a, b) for a, b in combinations(rationales, 2) if isinstance(a, Rationale) and isinstance(b, Rationale)]
    return any(_span_f1(a, b) < min_span_f1 for a, b in pairs)


def adjudication_items(items: dict[str, Item], conflicts: dict[str, list[dict[str, Any]]]) -> list[Item]:
    """Adjudication tasks: the original item plus every annotator's answer, shown and pre-annotated."""
    chosen = []
    for key, answers in sorted(conflicts.items()):
        listing = "".join(f"<li><b>{html.escape(a['annotator'])}</b>: "
                          f"{html.escape(_decision(a['kind'], a['status'], a['judgement']))} "
                          f"{html.escape(a['judgement'].get('comment', '') or '')}</li>" for a in answers)
        chosen.append(Item(key, items[key].source, items[key].candidate, items[key].predictions,
                           extra={"answers": f"<ul>{listing}</ul>"},
                           prefilled={f"annotator:{a['annotator']}": a["result"] for a in answers if a["result"]}))
    return chosen
