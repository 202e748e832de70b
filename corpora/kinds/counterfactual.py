"""Counterfactuals: a minimal edit of one field of the source that should flip its label, every edit typed
and recorded (Polyjuice-style), so that applying the edits to the original rebuilds the edited text."""

from __future__ import annotations

import difflib
import re
from typing import Literal

from pydantic import Field

from whyset.corpora.kinds import KindSpec, check_offsets, register_kind
from whyset.corpora.schema import Payload, Record, SourceExample
from whyset.errors import WhysetError


class Edit(Record):
    """One typed edit of the original field text: ``old`` at ``[start, end)`` becomes ``new``."""

    start: int = Field(ge=0)
    end: int = Field(ge=0)
    old: str
    new: str
    edit_type: str = Field(min_length=1, description="negation, antonym, quantifier, entity, rewrite, ...")


class Counterfactual(Payload):
    """A minimal edit of one field of the source that should flip its label to ``target_label``."""

    kind: Literal["counterfactual"] = "counterfactual"
    field: str
    edited_text: str
    edits: list[Edit] = Field(min_length=1)
    target_label: str

    def check_against(self, source: SourceExample) -> None:
        original = source.fields.get(self.field)
        if original is None:
            raise WhysetError(f"field 'field': source has no text field {self.field!r}")
        rebuilt, cursor = [], 0
        for i, edit in enumerate(sorted(self.edits, key=lambda e: e.start)):
            check_offsets(f"edits[{i}]", self.field, edit.start, edit.end, source, allow_empty=True)
            if edit.start < cursor:
                raise WhysetError(f"field 'edits[{i}]': edit at {edit.start} overlaps the previous edit")
            if original[edit.start : edit.end] != edit.old:
                raise WhysetError(f"field 'edits[{i}].old': {edit.old!r} is not the original text at that position")
            rebuilt += [original[cursor : edit.start], edit.new]
            cursor = edit.end
        if "".join(rebuilt) + original[cursor:] != self.edited_text:
            raise WhysetError("field 'edited_text': applying the edits to the original does not give the edited text")

    def asserted_labels(self) -> list[tuple[str, str]]:
        return [("target_label", self.target_label)]


def word_edits(original: str, edited: str, edit_type: str) -> list[Edit]:
    """Word-level edits (difflib over words and the whitespace between them) that turn ``original`` into
    ``edited``: for counterfactuals whose text was written freely (an LLM rewrite, an annotator's correction)."""
    tokens_a, tokens_b = re.findall(r"\S+|\s+", original), re.findall(r"\S+|\s+", edited)
    offsets = [0]
    for token in tokens_a:
        offsets.append(offsets[-1] + len(token))
    matcher = difflib.SequenceMatcher(a=tokens_a, b=tokens_b, autojunk=False)
    return [Edit(start=offsets[i1], end=offsets[i2], old=original[offsets[i1]:offsets[i2]],
                 new="".join(tokens_b[j1:j2]), edit_type=edit_type)
            for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal"]


register_kind(KindSpec(name="counterfactual", payload=Counterfactual, config="counterfactuals",
                       item=lambda cf, source: f"{source.id}:{cf.field}->{cf.target_label}",
                       ratings=lambda cf, source: ()))
