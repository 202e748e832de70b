from __future__ import annotations

import pytest
from pydantic import ValidationError

from whyset.corpora.kinds.counterfactual import Counterfactual, Edit
from whyset.corpora.kinds.qa import QATriple
from whyset.corpora.kinds.rationale import Rationale, Span
from whyset.corpora.schema import ContentIdentities, Provenance, SourceExample, content_id
from whyset.errors import WhysetError

SOURCE = SourceExample(
    id="s1", dataset="toy", split="train", row=0, label="positive", license="MIT",
    fields={"text": "The food was good."},
)


def test_content_id_is_stable_and_order_insensitive_for_dict_keys():
    assert content_id({"a": 1, "b": 2}) == content_id({"b": 2, "a": 1})
    assert content_id({"a": 1}) != content_id({"a": 2})
    assert len(content_id("x")) == 16


def test_content_identity_counts_identical_rows_so_duplicate_pairs_stay_apart():
    identities = ContentIdentities()
    pair = {"premise": "p", "hypothesis": "h"}
    first, other, second = (identities("esnli", "dev", pair, "neutral"), identities("esnli", "dev", pair, "entailment"),
                            identities("esnli", "dev", pair, "neutral"))
    assert first.endswith("#0") and second.endswith("#1") and other.endswith("#0")
    assert len({first, other, second}) == 3
    assert identities("esnli", "test", pair, "neutral").endswith("#0")  # counted per dataset split
    # a row inserted before them changes neither identity: they do not depend on the row number
    again = ContentIdentities()
    again("esnli", "dev", {"premise": "new", "hypothesis": "row"}, "neutral")
    assert again("esnli", "dev", pair, "neutral") == first


def test_span_must_be_non_empty():
    with pytest.raises(ValidationError, match="greater than start"):
        Span(field="text", start=5, end=5, text="")


def test_rationale_span_text_must_match_source():
    good = Rationale(spans=[Span(field="text", start=13, end=17, text="good")], label="positive")
    good.check_against(SOURCE)
    bad = Rationale(spans=[Span(field="text", start=13, end=17, text="food")], label="positive")
    with pytest.raises(WhysetError, match=r"spans\[0\]\.text"):
        bad.check_against(SOURCE)


def test_rationale_span_outside_text_names_the_field():
    outside = Rationale(spans=[Span(field="text", start=10, end=99, text="x")], label="positive")
    with pytest.raises(WhysetError, match=r"spans\[0\].*10\.\.99 are outside 'text' \(length 18\)"):
        outside.check_against(SOURCE)


def test_counterfactual_edits_must_rebuild_the_edited_text():
    cf = Counterfactual(field="text", edited_text="The food was not good.", target_label="negative",
                        edits=[Edit(start=13, end=13, old="", new="not ", edit_type="negation")])
    cf.check_against(SOURCE)
    wrong = cf.model_copy(update={"edited_text": "The food was bad."})
    with pytest.raises(WhysetError, match="edited_text"):
        wrong.check_against(SOURCE)


def test_counterfactual_old_text_must_be_at_the_offsets():
    cf = Counterfactual(field="text", edited_text="The food was bad.", target_label="negative",
                        edits=[Edit(start=13, end=17, old="nice", new="bad", edit_type="antonym")])
    with pytest.raises(WhysetError, match=r"edits\[0\]\.old"):
        cf.check_against(SOURCE)


def test_unknown_keys_are_rejected():
    with pytest.raises(ValidationError, match="extra"):
        QATriple(question="q", answer="a", explanation="e", confidence=0.3)


def test_provenance_defaults_record_tool_version_and_time():
    p = Provenance(origin="model", agent_id="gen", model_name="m", seed=3, decoding={"temperature": 0.7})
    assert p.tool_version and p.created_at.tzinfo is not None
    with pytest.raises(ValidationError):
        Provenance(origin="crowd", agent_id="x")
