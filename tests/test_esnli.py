"""The full bundled e-SNLI dev split, checked against its published composition."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from whyset.corpora.esnli import import_esnli, read_esnli
from whyset.corpora.store import CorpusStore
from whyset.errors import WhysetError


def test_full_dev_split_counts_match_snli_dev(store: CorpusStore, esnli_dir: Path):
    changes, annotations = import_esnli(store, esnli_dir)
    assert (changes.new, changes.changed, changes.gone, annotations) == (9842, 0, 0, 29526)
    assert store.count("sources") == 9842  # its two repeated pairs stay two sources each
    # SNLI 1.0 dev (Bowman et al., 2015): 9,842 pairs with a gold label: 3,329 / 3,235 / 3,278
    assert store.label_balance() == {"entailment": 3329, "neutral": 3235, "contradiction": 3278}
    per_annotator = Counter(r.provenance.agent_id for r in store.iter_explanations("annotation"))
    assert per_annotator == {"a1": 9842, "a2": 9842, "a3": 9842}
    # re-import adds nothing
    changes, annotations = import_esnli(store, esnli_dir)
    assert (changes.new, changes.changed, changes.unchanged, changes.gone, annotations) == (0, 0, 9842, 0, 0)


def test_first_pair_is_parsed_exactly(esnli_dir: Path):
    sources, records = read_esnli(esnli_dir, limit=1)
    assert sources[0].fields == {
        "premise": "Two women are embracing while holding to go packages .",
        "hypothesis": "The sisters are hugging goodbye while holding to go packages after just eating lunch .",
    }
    assert sources[0].label == "neutral" and sources[0].license == "MIT"
    assert [r.provenance.agent_id for r in records] == ["a1", "a2", "a3"]
    assert records[0].explanation.explanation == "the to go packages may not be from lunch ."


def test_misaligned_files_are_reported(tmp_path: Path, esnli_dir: Path):
    for name in ("s1.dev", "s2.dev", "labels.dev", "preproc1_expl_1.dev", "preproc1_expl_2.dev",
                 "preproc1_expl_3.dev"):
        lines = (esnli_dir / name).read_text().splitlines()[:5]
        (tmp_path / name).write_text("\n".join(lines[:4] if name == "s2.dev" else lines) + "\n")
    with pytest.raises(WhysetError, match="s2.dev has 4 lines but s1.dev has 5"):
        read_esnli(tmp_path)
