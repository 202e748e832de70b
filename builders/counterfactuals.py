"""Counterfactual builders: rule edits (spaCy + WordNet) and LLM rewrites toward a target label.

Every proposal is scored before anyone sees it: the classifier's probability of the target label on the
edited input (kept only if the prediction flips to the target; with ``verify_with``, every listed model's
verdict too, recorded per candidate, and ``require`` says which must agree), the word-level edit distance
(rapidfuzz), and fluency as the generator LM's mean token log-likelihood of the edited field, with its change
from the original. Proposals that do not flip are kept in ``rejected_candidates`` with their scores and the
reason; those of an LLM keep its raw output too.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import torch
from pydantic import Field
from rapidfuzz.distance import Levenshtein

from whyset.builders.base import Builder, BuilderSettings, GeneratorSettings, Strict, register_builder
from whyset.builders.context import BuildContext, BuildOutput
from whyset.builders.models import TransformersGenerator
from whyset.builders.recipe import ClassifierSettings
from whyset.builders.rule_edits import RULES, apply_edits, propose
from whyset.corpora.kinds.counterfactual import Counterfactual, word_edits
from whyset.corpora.schema import Provenance, SourceExample
from whyset.corpora.store_builds import RejectedCandidate

RuleName = Literal[tuple(RULES)]  # type: ignore[valid-type]


class Verification(Strict):
    """Which models must predict the target label for a proposal to be kept: ``[classifier]`` alone
    (``primary``), or together with the ``verify_with`` models (``all`` of them, or a ``majority``)."""

    verify_with: list[ClassifierSettings] = Field(default_factory=list, description="more classifiers to check "
                                                  "the flip with, e.g. [{head = 'cross_encoder'}]")
    require: Literal["primary", "all", "majority"] = "all"


class RuleCounterfactual(BuilderSettings, Verification):
    field: str | None = Field(default=None, description="text field to edit (default: the last one)")
    edits: list[RuleName] = Field(default_factory=lambda: list(RULES))  # type: ignore[valid-type]
    targets: dict[str, str] | None = Field(default=None, description="original label -> target label")


class LLMCounterfactual(GeneratorSettings, Verification):
    field: str | None = None
    targets: dict[str, str] | None = None


def mean_log_likelihood(ctx: BuildContext, texts: list[str], batch_size: int = 32) -> list[float | None]:
    """Mean per-token log-probability under the local generator LM (None for an endpoint generator, or a
    text of fewer than two tokens), batched with right padding: a real token's position and context are then
    exactly those it has alone, and padding is masked out of the mean."""
    generator = ctx.generator
    if not isinstance(generator, TransformersGenerator):
        return [None] * len(texts)
    tokenizer, model = generator.tokenizer, generator.model
    out: list[float | None] = []
    with torch.no_grad():
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(texts[start:start + batch_size], return_tensors="pt", padding=True,
                              padding_side="right").to(model.device)
            ids, mask = batch["input_ids"], batch["attention_mask"]
            logp = torch.log_softmax(model(input_ids=ids, attention_mask=mask).logits[:, :-1].float(), -1)
            token_logp = logp.gather(-1, ids[:, 1:].unsqueeze(-1))[..., 0] * mask[:, 1:]
            counts = mask[:, 1:].sum(-1)
            out += [round(float(total / n), 4) if n > 0 else None
                    for total, n in zip(token_logp.sum(-1).tolist(), counts.tolist(), strict=True)]
    return out


def _verdict(classifier: Any, probs: Any, target: str) -> dict[str, Any]:
    predicted = classifier.labels[int(probs.argmax())]
    return {"p_target": round(float(probs[classifier.labels.index(target)]), 4), "predicted": predicted,
            "flipped": predicted == target}


def score_and_split(ctx: BuildContext, settings: RuleCounterfactual | LLMCounterfactual,
                    proposals: list[tuple[SourceExample, Counterfactual, Provenance, dict[str, Any]]],
                    out: BuildOutput) -> None:
    """Score proposals in one batch (every classifier, fluency); keep those whose flip the required models
    confirm. ``scores`` holds the primary classifier's verdict at the top level and every verifier's under
    ``verifiers`` (by classifier name)."""
    if not proposals:
        return
    edited_inputs = [s.fields | {cf.field: cf.edited_text} for s, cf, _, _ in proposals]
    primary = ctx.classifier
    verifiers = [ctx.classifier_for(v) for v in settings.verify_with]
    probs = [c.predict_proba(edited_inputs) for c in [primary, *verifiers]]
    fluency = mean_log_likelihood(ctx, [cf.edited_text for _, cf, _, _ in proposals]
                                  + [s.fields[cf.field] for s, cf, _, _ in proposals])
    n = len(proposals)
    names = [c.name for c in verifiers]
    if len(set(names)) < len(names):  # e.g. two linear heads trained on different amounts of data
        names = [f"{name}#{i}" for i, name in enumerate(names)]
    for i, (source, cf, provenance, extra) in enumerate(proposals):
        verdicts = [_verdict(c, p[i], cf.target_label) for c, p in zip([primary, *verifiers], probs, strict=True)]
        flu, base = fluency[i], fluency[n + i]
        scores = verdicts[0] | {"edit_distance_words": Levenshtein.distance(source.fields[cf.field].split(),
                                                                             cf.edited_text.split()),
                                "fluency": flu, "fluency_delta": None if flu is None or base is None
                                else round(flu - base, 4)}
        if verifiers:
            scores["verifiers"] = dict(zip(names, verdicts[1:], strict=True))
        flips = [v["flipped"] for v in verdicts]
        confirmed = {"primary": flips[0], "all": all(flips), "majority": 2 * sum(flips) > len(flips)}[settings.require]
        if confirmed:
            out.kept.append(ctx.candidate(source, cf, provenance, scores))
            continue
        against = [f"{who} predicts {v['predicted']!r}" for who, v in zip(["classifier", *names], verdicts,
                                                                           strict=True) if not v["flipped"]]
        out.rejected.append(RejectedCandidate(source.id, settings.id, "counterfactual",
                                     f"{'; '.join(against)}, not the target {cf.target_label!r}"
                                     + (f" (require {settings.require})" if verifiers else ""),
                                     provenance, payload=cf.model_dump(mode="json") | extra, scores=scores))


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
                proposals.append((source, cf, provenance, {}))
        score_and_split(ctx, self.settings, proposals, out)
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
        answers = ctx.generate(self.settings, messages)
        for (source, target), message, answer in zip(work, messages, answers, strict=True):
            provenance = ctx.llm_provenance(self.settings, message[-1]["content"], answer.seed)
            rewritten = first_line(answer.text)
            original = source.fields[field]
            if not rewritten or rewritten == original:
                reason = "no rewrite in the output" if not rewritten else "the rewrite repeats the original"
                out.rejected.append(RejectedCandidate(source.id, self.settings.id, self.kind, reason, provenance,
                                                      payload=answer.raw))
                continue
            cf = Counterfactual(field=field, edited_text=rewritten, edits=word_edits(original, rewritten, "rewrite"),
                                target_label=target)
            proposals.append((source, cf, provenance, answer.raw))
        score_and_split(ctx, self.settings, proposals, out)
        return out


def first_line(text: str) -> str:
    line = next((s.strip() for s in text.splitlines() if s.strip()), "")
    return re.sub(r"^(?:[A-Za-z ]+:\s*)?[\"“]?(.*?)[\"”]?$", r"\1", line).strip()
