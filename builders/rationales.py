"""Rationale builders: attributions over the classifier, and evidence quoted by an LLM.

The LLM's quotes are only ever *looked up* in the source: a quote that does not occur verbatim in a field
is rejected (kept with the reason), and offsets are computed here, never taken from the model.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field

from whyset.builders.attribution import IGSchedule, SpanRule, attribute, select_spans, word_scores
from whyset.builders.base import Builder, BuilderSettings, GeneratorSettings, register_builder
from whyset.builders.context import BuildContext, BuildOutput
from whyset.corpora.kinds.rationale import Rationale, Span
from whyset.corpora.schema import SourceExample
from whyset.corpora.store_builds import RejectedCandidate

QUOTE = re.compile(r'^[\s\-*•\d.)]*["“\']?(.+?)["”\']?\s*$')


class AttributionRationale(BuilderSettings):
    method: Literal["integrated_gradients", "gradient_x_input", "occlusion"] = "integrated_gradients"
    steps: int = Field(default=IGSchedule.most, ge=2,
                       description="Integrated Gradients: the most steps an example may take")
    start_steps: int = Field(default=IGSchedule.start, ge=2,
                             description="Integrated Gradients: steps tried first, doubled until the convergence "
                                         "delta is within delta_tolerance")
    delta_tolerance: float = Field(default=IGSchedule.tolerance, gt=0,
                                   description="|delta| allowed, as a fraction of |f(x) - f(baseline)|")
    select: Literal["top_fraction", "threshold"] = "top_fraction"
    fraction: float = Field(default=0.2, gt=0, le=1)
    threshold: float = Field(default=0.5, gt=0, le=1)
    granularity: Literal["token", "sentence"] = "token"


@register_builder("attribution_rationale", settings=AttributionRationale, kind="rationale", needs=("classifier",))
class AttributionRationaleBuilder(Builder):
    """Attributions for a whole batch at once (padded); each example's spans, scores and, for Integrated
    Gradients, the convergence delta and the steps it needed."""

    settings: AttributionRationale

    def __init__(self, settings: AttributionRationale):
        super().__init__(settings)
        self.rule = SpanRule(settings.select, settings.fraction, settings.threshold, settings.granularity)
        self.schedule = IGSchedule(min(settings.start_steps, settings.steps), settings.steps,
                                   settings.delta_tolerance)

    def build(self, sources: list[SourceExample], ctx: BuildContext) -> BuildOutput:
        out, classifier = BuildOutput(), ctx.classifier
        sources = [s for s in sources if s.label is not None]
        if not sources:
            return out
        examples = [s.fields for s in sources]
        encoded = classifier.encode(examples)
        targets = [classifier.labels.index(s.label) for s in sources]
        results = attribute(classifier, examples, targets, self.settings.method, self.schedule, encoded)
        for b, (source, target, result) in enumerate(zip(sources, targets, results, strict=True)):
            words = word_scores(encoded, b, source.fields, result.tokens)
            probs = result.probabilities
            measured = {"p_label": round(probs[target], 4),
                        "predicted": classifier.labels[max(range(len(probs)), key=probs.__getitem__)],
                        "attribution_sum": round(sum(float(t.sum()) for t in result.tokens), 4)}
            extra = {}
            if result.delta is not None:
                measured |= {"convergence_delta": round(result.delta, 6), "ig_steps": result.steps}
                extra = {"ig_steps": result.steps}
            provenance = ctx.provenance(self.settings, "model", classifier.name, target="logit_difference", **extra)
            spans = select_spans(words, source.fields, self.rule)
            if not spans:
                out.rejected.append(RejectedCandidate(source.id, self.settings.id, self.kind,
                                             "no word supports the label (all attributions <= 0)", provenance,
                                             scores=measured))
                continue
            rationale = Rationale(spans=spans, granularity=self.settings.granularity, label=source.label)
            out.kept.append(ctx.candidate(source, rationale, provenance, measured))
        return out


@register_builder("llm_rationale", settings=GeneratorSettings, kind="rationale", needs=("generator",))
class LLMRationaleBuilder(Builder):
    settings: GeneratorSettings

    def prompt(self, source: SourceExample) -> list[dict[str, str]]:
        shown = "\n".join(f"{name}: {text}" for name, text in source.fields.items())
        return [{"role": "system", "content": "You cite evidence. Reply only with short exact quotes, one per line."},
                {"role": "user", "content": f"{shown}\nlabel: {source.label}\n"
                                            "Quote the exact words from the text above that justify the label."}]

    def build(self, sources: list[SourceExample], ctx: BuildContext) -> BuildOutput:
        out = BuildOutput()
        sources = [s for s in sources if s.label is not None]
        if not sources:
            return out
        messages = [self.prompt(s) for s in sources]
        answers = ctx.generate(self.settings, messages)
        for source, message, answer in zip(sources, messages, answers, strict=True):
            provenance = ctx.llm_provenance(self.settings, message[-1]["content"], answer.seed)
            spans, missing = verbatim_spans(answer.text, source.fields)
            for quote in missing:
                out.rejected.append(RejectedCandidate(source.id, self.settings.id, self.kind,
                                             f"quote not found verbatim in the source: {quote!r}", provenance,
                                             payload={"quote": quote} | answer.raw))
            if spans:
                out.kept.append(ctx.candidate(source, Rationale(spans=spans, label=source.label), provenance,
                                              {"quotes_kept": len(spans), "quotes_rejected": len(missing)}))
            elif not missing:
                out.rejected.append(RejectedCandidate(source.id, self.settings.id, self.kind, "no quote in the output",
                                             provenance, payload=answer.raw))
        return out


def verbatim_spans(text: str, fields: dict[str, str]) -> tuple[list[Span], list[str]]:
    """Quotes (one per line) that occur verbatim in a field, as spans with computed offsets (first
    occurrence, fields in order, duplicates and overlaps dropped); and the quotes that do not occur."""
    spans: list[Span] = []
    missing: list[str] = []
    for line in text.splitlines():
        match = QUOTE.match(line)
        quote = match.group(1).strip() if match else ""
        if len(quote) < 2:
            continue
        hit = next(((name, value.find(quote)) for name, value in fields.items() if value.find(quote) >= 0), None)
        if hit is None:
            missing.append(quote)
            continue
        name, start = hit
        span = Span(field=name, start=start, end=start + len(quote), text=quote)
        if not any(s.field == name and s.start < span.end and span.start < s.end for s in spans):
            spans.append(span)
    spans.sort(key=lambda s: (list(fields).index(s.field), s.start))
    return spans, missing
