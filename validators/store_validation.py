"""Validate a whyset store: agreement on its human annotations plus corpus statistics, saved as a run.

Which agreement applies follows from the explanation kind: rationale labels (nominal alpha, kappas),
rationale spans (token alpha, span F1/IoU) and free-text explanations of QA triples (leave-one-out BLEU,
ROUGE-L). Items whose annotators disagree most are the hot spots routed to adjudication.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter, defaultdict
from datetime import UTC, datetime
from itertools import combinations
from typing import Any

from rouge_score.rouge_scorer import RougeScorer

from whyset.corpora.progress import progress
from whyset.corpora.schema import QATriple, Rationale, content_id
from whyset.corpora.store import CorpusStore
from whyset.errors import WhysetError
from whyset.validators.agreement import agreement
from whyset.validators.ratings import Ratings

HOTSPOTS = 25
ADJUDICATION_ROUGE_L = 0.2  # free-text items whose best annotator pair overlaps less than this


def store_ratings(store: CorpusStore) -> dict[str, Ratings]:
    """Annotation tables per agreement kind from the store's human annotations."""
    tables = {"label": Ratings("label"), "span": Ratings("span"), "text": Ratings("text")}
    sources = {s.id: s for s in store.iter_sources()}
    for record in store.iter_explanations("annotation"):
        if record.provenance.origin != "human":
            continue
        who, explanation = record.provenance.agent_id, record.explanation
        where = f"annotation {record.id}"
        if isinstance(explanation, Rationale):
            tables["label"].add(record.source_id, who, explanation.label, where)
            by_field: dict[str, list[tuple[int, int]]] = defaultdict(list)
            for span in explanation.spans:
                by_field[span.field].append((span.start, span.end))
            for field, spans in by_field.items():
                item = f"{record.source_id}:{field}"
                tables["span"].add(item, who, spans, where)
                tables["span"].texts[item] = sources[record.source_id].fields[field]
        elif isinstance(explanation, QATriple):
            # several questions per source are allowed: the item is the (source, question) pair
            item = f"{record.source_id}/q{content_id(explanation.question)[:6]}"
            tables["text"].add(item, who, explanation.explanation, where)
    return {kind: table for kind, table in tables.items() if table.values}


def text_hotspots(ratings: Ratings, limit: int = HOTSPOTS) -> tuple[list[dict[str, Any]], int]:
    """Items with the lowest mean pairwise ROUGE-L, and how many fall under the adjudication threshold."""
    scorer = RougeScorer(["rougeL"])
    scored = []
    for item in progress(ratings.pairable_items(), "per-item text agreement"):
        texts = ratings.values[item]
        pair_scores = [scorer.score(texts[a], texts[b])["rougeL"].fmeasure for a, b in combinations(sorted(texts), 2)]
        scored.append({"item": item, "mean_rouge_l": statistics.fmean(pair_scores), "best_pair": max(pair_scores),
                       "annotators": len(texts)})
    scored.sort(key=lambda s: (s["mean_rouge_l"], s["item"]))
    return scored[:limit], sum(s["best_pair"] < ADJUDICATION_ROUGE_L for s in scored)


def label_hotspots(ratings: Ratings, limit: int = HOTSPOTS) -> tuple[list[dict[str, Any]], int]:
    disputed = []
    for item in ratings.pairable_items():
        counts = Counter(ratings.values[item].values())
        if len(counts) > 1:
            disputed.append({"item": item, "labels": dict(counts), "majority_share":
                             counts.most_common(1)[0][1] / sum(counts.values())})
    disputed.sort(key=lambda d: (d["majority_share"], d["item"]))
    return disputed[:limit], len(disputed)


def corpus_statistics(store: CorpusStore) -> dict[str, Any]:
    labels = dict(store.con.execute("SELECT coalesce(label, '(none)'), count(*) FROM sources GROUP BY 1 ORDER BY 1")
                  .fetchall())
    lengths: dict[str, list[int]] = defaultdict(list)
    for source in store.iter_sources():
        for field, text in source.fields.items():
            lengths[field].append(len(text.split()))
    workload = store.con.execute(
        "SELECT agent_id, kind, count(*), median(lead_time), sum(lead_time) FROM annotations "
        "GROUP BY agent_id, kind ORDER BY agent_id, kind").fetchall()
    return {
        "sources": store.count("sources"), "annotations": store.count("annotations"),
        "candidates": store.count("candidates"), "label_balance": labels,
        "token_lengths": {f: {"mean": statistics.fmean(v), "median": statistics.median(v), "max": max(v),
                              "values": v} for f, v in lengths.items()},
        "workload": [{"annotator": a, "kind": k, "annotations": n, "median_lead_time_s": med,
                      "total_lead_time_s": total} for a, k, n, med, total in workload],
    }


def run_validation(store: CorpusStore, n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Compute every applicable figure, save it as a validation run, and return it."""
    tables = store_ratings(store)
    if not tables:
        raise WhysetError(f"{store.path}: no human annotations to validate")
    results: dict[str, Any] = {"run_id": datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ"),
                               "corpus": corpus_statistics(store), "skipped": {}}
    for kind, ratings in tables.items():
        try:
            results[kind] = agreement(ratings, n_boot=n_boot, seed=seed)
        except WhysetError as exc:  # e.g. a single annotator: report why, keep the rest
            results["skipped"][kind] = str(exc)
    if "text" in results:
        results["text"]["hotspots"], results["text"]["adjudication_items"] = text_hotspots(tables["text"])
    if "label" in results:
        results["label"]["hotspots"], results["label"]["adjudication_items"] = label_hotspots(tables["label"])
    save_run(store, results)
    return results


def flat_metrics(results: dict[str, Any]) -> dict[str, float]:
    """Every scalar figure under a dotted name (``text.bleu_loo.a1``), the names gates refer to."""
    flat: dict[str, float] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, bool):
            return
        if isinstance(value, (int, float)):
            flat[prefix] = float(value)
        elif isinstance(value, dict):  # lists (hot spots, confusion matrices, spans) are not figures
            for key, sub in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), sub)

    for kind in ("label", "span", "text"):
        if kind in results:
            walk(kind, results[kind])
    walk("corpus", {k: results["corpus"][k] for k in ("sources", "annotations", "candidates")})
    return flat


def save_run(store: CorpusStore, results: dict[str, Any]) -> None:
    now = datetime.now(UTC)
    rows = [(results["run_id"], metric, "corpus", value, None, now) for metric, value in flat_metrics(results).items()]
    rows.append((results["run_id"], "full_report", "corpus", None, json.dumps(results, default=str), now))
    with store.transaction():
        store.con.executemany("INSERT INTO validation_results VALUES (?, ?, ?, ?, ?, ?)", rows)
