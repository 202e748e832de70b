"""Counterfactual builders: rule edits (spaCy + WordNet) and LLM rewrites toward a target label.

Every proposal is scored before anyone sees it: the classifier's probability of the target label on the
edited input (kept only if the prediction flips to the target), the word-level edit distance (rapidfuzz),
and fluency as the generator LM's mean token log-likelihood of the edited field, with its change from the
original. Proposals that do not flip are kept in ``rejected_candidates`` with their scores and the reason.
"""

from __future__ import annotations

import re
from typing import Literal

import torch
from pydantic import Field
from rapidfuzz.distance import Levenshtein

from whyset.builders.base import Builder, BuilderSettings, GeneratorSettings, register_builder
from whyset.builders.context import BuildContext, BuildOutput
from whyset.builders.models import TransformersGenerator
from whyset.builders.rule_edits import RULES, apply_edits, propose
from whyset.corpora.kinds.counterfactual import Counterfactual, word_edits
from whyset.corpora.schema import Provenance, SourceExample
from whyset.corpora.store_builds import RejectedCandidate

RuleName = Literal[tuple(RULES)]  # type: ignore[valid-type]


class RuleCounterfactual(BuilderSettings):
    field: str | None = Field(default=None, description="text field to edit (default: the last one)")
    edits: list[RuleName] = Field(default_factory=lambda: list(RULES))  # type: ignore[valid-type]
    targets: dict[str, str] | None = Field(default=None, description="original label -> target label")


class LLMCounterfactual(GeneratorSettings):
    field: str | None = None
    targets: dict[str, str] | None = None


def mean_log_likelihood(ctx: BuildContext, texts: list[str]) -> list[float | None]:
    """Mean per-token log-probability under the local generator LM (None for an endpoint generator)."""
    generator = ctx.generator
    if not isinstance(generator, TransformersGenerator):
        return [None] * len(texts)
    tokenizer, model = generator.tokenizer, generator.model
    out: list[float | None] = []
    with torch.no_grad():
        for text in texts:
            ids = tokenizer(text, return_tensors="pt")["input_ids"]
            if ids.shape[1] < 2:
                out.append(None)
                continue
            logits = model(input_ids=ids).logits[:, :-1]
            logp = torch.log_softmax(logits, -1).gather(-1, ids[:, 1:].unsqueeze(-1))
            out.append(round(float(logp.mean()), 4))
    return out


def score_and_split(ctx: BuildContext, builder_id: str, proposals: list[tuple[SourceExample, Counterfactual,
                    Provenance]], out: BuildOutput) -> None:
    """Score proposals in one batch; keep those whose prediction flips to the target label."""
    if not proposals:
        return
    classifier = ctx.classifier
    edited_inputs = [s.fields | {cf.field: cf.edited_text} for s, cf, _ in proposals]
    probs = classifier.predict_proba(edited_inputs)
    fluency = mean_log_likelihood(ctx, [cf.edited_text for _, cf, _ in proposals])
    original_fluency = mean_log_likelihood(ctx, [s.fields[cf.field] for s, cf, _ in proposals])
    for (source, cf, provenance), p, flu, base in zip(proposals, probs, fluency, original_fluency, strict=True):
        predicted = classifier.labels[int(p.argmax())]
        scores = {"p_target": round(float(p[classifier.labels.index(cf.target_label)]), 4),
                  "predicted": predicted, "flipped": predicted == cf.target_label,
                  "edit_distance_words": Levenshtein.distance(source.fields[cf.field].split(), cf.edited_text.split()),
                  "fluency": flu, "fluency_delta": None if flu is None or base is None else round(flu - base, 4)}
        if predicted == cf.target_label:
            out.kept.append(ctx.candidate(source, cf, provenance, scores))
        else:
            out.rejected.append(RejectedCandidate(source.id, builder_id, "counterfactual",
                                         f"classifier predicts {predicted!r}, not the target {cf.target_label!r}",
                                         provenance, payload=cf.model_dump(mode="json"), scores=scores))


@register_builder("rule_counterfactual", settings=RuleCounterfactual, kind="counterfactual",
                  needs=("classifier", "generator"))
class RuleCounterfactualBuilder(Builder):
    settings: RuleCounterfactual

    def build(self, sources: list[SourceExample], ctx: BuildContext) -> BuildOutput:
        out, proposals = BuildOutput(), []
        field = self.settings.field or ctx.fields[-1]
        for source in sources:
            target = ctx.target_label(source.label, self.settings.targets)
            if target is None:
                continue
            for edits in propose(source.fields[field], self.settings.edits):
                cf = Counterfactual(field=field, edited_text=apply_edits(source.fields[field], edits), edits=edits,
                                    target_label=target)
                provenance = ctx.provenance(self.settings, "rule", "spacy+wordnet", rule=edits[0].edit_type)
                proposals.append((source, cf, provenance))
        score_and_split(ctx, self.settings.id, proposals, out)
        return out


@register_builder("llm_counterfactual", settings=LLMCounterfactual, kind="counterfactual",
                  needs=("classifier", "generator"))
class LLMCounterfactualBuilder(Builder):
    settings: LLMCounterfactual

    def prompt(self, source: SourceExample, field: str, target: str) -> list[dict[str, str]]:
        context = "\n".join(f"{name}: {text}" for name, text in source.fields.items())
        return [{"role": "system", "content": "You rewrite one sentence with the smallest possible change."},
                {"role": "user", "content": f"{context}\nlabel: {source.label}\n"
                                            f"Rewrite the {field} with a minimal edit so that the label becomes "
                                            f"{target}. Reply with the rewritten {field} only."}]

    def build(self, sources: list[SourceExample], ctx: BuildContext) -> BuildOutput:
        out, proposals = BuildOutput(), []
        field = self.settings.field or ctx.fields[-1]
        work = [(s, t) for s in sources if (t := ctx.target_label(s.label, self.settings.targets))]
        if not work:
            return out
        messages = [self.prompt(s, field, t) for s, t in work]
        texts = ctx.generator.generate(messages, self.settings.seed, self.settings.max_new_tokens,
                                       self.settings.temperature)
        for (source, target), message, text in zip(work, messages, texts, strict=True):
            provenance = ctx.provenance(self.settings, "model", ctx.generator.name, ctx.generator.revision,
                                        prompt=message[-1]["content"], seed=self.settings.seed,
                                        max_new_tokens=self.settings.max_new_tokens,
                                        temperature=self.settings.temperature)
            rewritten = first_line(text)
            original = source.fields[field]
            if not rewritten or rewritten == original:
                out.rejected.append(RejectedCandidate(source.id, self.settings.id, self.kind, "no rewrite in the output",
                                             provenance, payload={"raw": text}))
                continue
            cf = Counterfactual(field=field, edited_text=rewritten, edits=word_edits(original, rewritten, "rewrite"),
                                target_label=target)
            proposals.append((source, cf, provenance))
        score_and_split(ctx, self.settings.id, proposals, out)
        return out


def first_line(text: str) -> str:
    line = next((s.strip() for s in text.splitlines() if s.strip()), "")
    return re.sub(r"^(?:[A-Za-z ]+:\s*)?[\"“]?(.*?)[\"”]?$", r"\1", line).strip()
