"""Importer for the e-SNLI release format (Camburu et al., 2018): parallel line files s1/s2/labels and
three explanation files, one per crowd worker.

Each pair becomes a source example (premise, hypothesis, gold label); each of its three explanations
becomes a human QA-explanation annotation by annotators a1, a2, a3 in the round ``esnli-original``.
"""

from __future__ import annotations

from pathlib import Path

from whyset.corpora.info import CorpusInfo
from whyset.corpora.kinds.qa import QATriple
from whyset.corpora.progress import progress
from whyset.corpora.schema import ContentIdentities, ExplanationRecord, Provenance, SourceExample
from whyset.corpora.store import CorpusStore
from whyset.corpora.store_sources import SourceChanges
from whyset.corpora.text_files import read_text
from whyset.errors import WhysetError

LABELS = ("entailment", "neutral", "contradiction")
ROUND_ID = "esnli-original"
QUESTION = "Why does the premise lead to this relation with the hypothesis?"
LICENSE = "MIT"
ATTRIBUTION = (
    "e-SNLI, Camburu et al., 'e-SNLI: Natural Language Inference with Natural Language Explanations', "
    "NeurIPS 2018; Copyright 2019 Oana-Maria Camburu. Premise/hypothesis pairs from SNLI (Bowman et al., 2015)."
)
ANNOTATORS = ("a1", "a2", "a3")
INFO = CorpusInfo(name="esnli-explanations", pretty_name="e-SNLI explanations", languages=["en"],
                  task_categories=["text-classification"], homepage="https://github.com/OanaMariaCamburu/e-SNLI")


def _lines(folder: Path, name: str) -> list[str]:
    path = folder / name
    if not path.exists():
        raise WhysetError(f"{path}: missing (an e-SNLI folder has s1, s2, labels and 3 explanation files)")
    return read_text(path).splitlines()


def read_esnli(folder: Path, split: str = "dev", limit: int | None = None
               ) -> tuple[list[SourceExample], list[ExplanationRecord]]:
    """Parse an e-SNLI split folder into sources and annotations without touching any store."""
    premises = _lines(folder, f"s1.{split}")
    hypotheses = _lines(folder, f"s2.{split}")
    labels = _lines(folder, f"labels.{split}")
    explanations = [_lines(folder, f"preproc1_expl_{i}.{split}") for i in (1, 2, 3)]
    for name, column in [("s2", hypotheses), ("labels", labels)] + [(f"expl_{i}", e) for i, e in enumerate(explanations, 1)]:
        if len(column) != len(premises):
            raise WhysetError(f"{folder}: {name}.{split} has {len(column)} lines but s1.{split} has {len(premises)}")
    count = len(premises) if limit is None else min(limit, len(premises))
    sources, records, identities = [], [], ContentIdentities()
    for row in progress(range(count), f"parsing e-SNLI {split}"):
        label = labels[row].strip()
        if label not in LABELS:
            raise WhysetError(f"{folder / f'labels.{split}'}:{row + 1}: field 'label': unknown label {label!r}")
        fields = {"premise": premises[row].strip(), "hypothesis": hypotheses[row].strip()}
        identity = identities("esnli", split, fields, label)  # two dev pairs occur twice: kept apart
        source = SourceExample(
            id=SourceExample.make_id("esnli", split, identity), dataset="esnli", split=split, row=row,
            fields=fields, label=label, license=LICENSE, attribution=ATTRIBUTION, identity=identity,
        )
        sources.append(source)
        for annotator, texts in zip(ANNOTATORS, explanations, strict=True):
            triple = QATriple(question=QUESTION, answer=label, explanation=texts[row].strip())
            records.append(ExplanationRecord(
                id=ExplanationRecord.make_id(source.id, "annotation", ROUND_ID, triple, annotator),
                source_id=source.id, role="annotation", round_id=ROUND_ID, explanation=triple,
                provenance=Provenance(origin="human", agent_id=annotator),
            ))
    return sources, records


def import_esnli(store: CorpusStore, folder: Path, split: str = "dev", limit: int | None = None,
                 explanations: bool = True) -> tuple[SourceChanges, int]:
    """Import one e-SNLI split into the store in a single transaction. Returns what changed among the
    sources and the number of new annotations.

    ``explanations=False`` imports the pairs only, for when the human explanations should arrive through
    annotation (the demo replays them through Label Studio)."""
    sources, records = read_esnli(folder, split, limit)
    records = records if explanations else []
    with store.transaction():
        store.declare_labels(LABELS)
        store.update_info(store.info.filled_from(INFO))
        if store.get_setting("freetext_question") is None:
            store.set_setting("freetext_question", QUESTION)
        store.add_round(ROUND_ID, "e-SNLI original explanations", "qa", guideline_version="e-SNLI 2018",
                        details={"annotators": list(ANNOTATORS)})
        changes = store.add_sources(sources, complete=limit is None)
        records = [_on_stored_source(record, changes.stored_ids) for record in records]
        new_annotations = store.add_explanations(records) if records else 0
    return changes, new_annotations


def _on_stored_source(record: ExplanationRecord, stored_ids: dict[str, str]) -> ExplanationRecord:
    """The record on the id its source is stored under (sources stored before identities kept their ids)."""
    source_id = stored_ids.get(record.source_id)
    if source_id is None:
        return record
    agent = record.provenance.agent_id
    return record.model_copy(update={"source_id": source_id, "id": ExplanationRecord.make_id(
        source_id, record.role, record.round_id, record.explanation, agent)})
