"""QA-explanation builders: an LLM explains a labelled example, or writes (question, answer, explanation)
for a passage; several candidates per item, one seed each.

Few-shot exemplars come from already-accepted work (human annotations in the store whose source is not
being built), chosen per item by maximal marginal relevance over encoder embeddings, so they are similar to
the item but not to each other; their ids are recorded in the provenance. Cheap filters run before any human
sees a candidate: a passage answer must occur in the passage, an explanation must not merely restate the
input (cosine similarity to any input field above ``max_input_similarity``), and near-duplicates among an
item's candidates are dropped. Rejects are kept with the reason and the similarity that decided it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import Field

from whyset.builders.base import Builder, GeneratorSettings, register_builder
from whyset.builders.context import BuildContext, BuildOutput
from whyset.corpora.kinds.qa import QATriple
from whyset.corpora.schema import Provenance, SourceExample
from whyset.corpora.store_builds import RejectedCandidate
from whyset.corpora.store_responses import StoredResponse

PARTS = re.compile(r"^\s*(question|answer|explanation)\s*:\s*(.+)$", re.IGNORECASE | re.MULTILINE)


def mmr(query: np.ndarray, pool: np.ndarray, k: int, lam: float) -> list[int]:
    """Maximal marginal relevance (Carbonell & Goldstein, 1998) over unit vectors: indices of ``k`` rows of
    ``pool`` maximising lam * sim(query) - (1 - lam) * max sim(already chosen)."""
    relevance = pool @ query
    chosen: list[int] = []
    while len(chosen) < min(k, len(pool)):
        redundancy = (pool @ pool[chosen].T).max(axis=1) if chosen else np.zeros(len(pool))
        score = lam * relevance - (1 - lam) * redundancy
        score[chosen] = -np.inf
        chosen.append(int(score.argmax()))
    return chosen


class LLMExplanation(GeneratorSettings):
    mode: Literal["explain_label", "passage_qa"] = "explain_label"
    samples: int = Field(default=2, ge=1, description="candidates per item, one seed each")
    shots: int = Field(default=3, ge=0, description="few-shot exemplars chosen by MMR from accepted annotations")
    mmr_lambda: float = Field(default=0.7, ge=0, le=1)
    max_input_similarity: float = Field(default=0.9, gt=0, le=1, description="reject restatements of the input")
    max_duplicate_similarity: float = Field(default=0.95, gt=0, le=1, description="reject near-duplicates")


@register_builder("llm_explanation", settings=LLMExplanation, kind="qa", needs=("encoder", "generator"))
class LLMExplanationBuilder(Builder):
    settings: LLMExplanation

    def __init__(self, settings: LLMExplanation):
        super().__init__(settings)
        self._vectors: np.ndarray | None = None

    def _exemplar_vectors(self, ctx: BuildContext) -> np.ndarray:
        if self._vectors is None:
            shown = [_describe(source) for source, _ in ctx.view.exemplars]
            self._vectors = ctx.embed(shown) if shown and self.settings.shots else np.zeros((0, 1))
        return self._vectors

    def _messages(self, source: SourceExample, shots: Sequence[tuple[SourceExample, QATriple]]
                  ) -> list[dict[str, str]]:
        if self.settings.mode == "passage_qa":
            system = ("Write one question about the passage, its answer copied from the passage, and a one-sentence "
                      "explanation. Use the lines 'Question:', 'Answer:', 'Explanation:'.")
        else:
            system = "Explain in one short sentence why the label holds. Do not repeat the input."
        messages = [{"role": "system", "content": system}]
        for shot_source, triple in shots:
            messages += [{"role": "user", "content": _describe(shot_source, self.settings.mode)},
                         {"role": "assistant", "content": triple.explanation}]
        messages.append({"role": "user", "content": _describe(source, self.settings.mode)})
        return messages

    def build(self, sources: list[SourceExample], ctx: BuildContext) -> BuildOutput:
        out = BuildOutput()
        if self.settings.mode == "explain_label":
            sources = [s for s in sources if s.label is not None]
        if not sources:
            return out
        question, pool = ctx.view.question, ctx.view.exemplars
        vectors = self._exemplar_vectors(ctx)
        queries = ctx.embed([_describe(s) for s in sources])
        prompts = []
        for source, query in zip(sources, queries, strict=True):
            picked = mmr(query, vectors, self.settings.shots, self.settings.mmr_lambda) if len(vectors) else []
            shots = [(pool[i][0], pool[i][1].explanation) for i in picked]
            prompts.append((self._messages(source, shots), [pool[i][1].id for i in picked]))
        by_source: dict[str, list[tuple[QATriple, Provenance, StoredResponse]]] = {s.id: [] for s in sources}
        seeds = [self.settings.seed + sample for sample in range(self.settings.samples)]
        work = [(source, messages, shot_ids, seed) for seed in seeds
                for source, (messages, shot_ids) in zip(sources, prompts, strict=True)]
        # every sample of every item in one call: an endpoint gets them all in flight at once
        answers = ctx.generate(self.settings, [m for _, m, _, _ in work], [seed for *_, seed in work])
        for (source, messages, shot_ids, seed), answer in zip(work, answers, strict=True):
            provenance = ctx.llm_provenance(self.settings, str(messages), seed, exemplar_ids=shot_ids)
            triple, problem = self._parse(source, answer.text, question)
            if triple is None:
                out.rejected.append(RejectedCandidate(source.id, self.settings.id, self.kind, problem, provenance,
                                                      payload=answer.raw))
            else:
                by_source[source.id].append((triple, provenance, answer))
        self._filter(sources, by_source, ctx, out)
        return out

    def _parse(self, source: SourceExample, text: str, question: str) -> tuple[QATriple | None, str]:
        if self.settings.mode == "explain_label":
            explanation = text.strip().split("\n")[0].strip()
            if not explanation:
                return None, "empty output"
            return QATriple(question=question, answer=source.label or "", explanation=explanation), ""
        parts = {k.lower(): v.strip() for k, v in PARTS.findall(text)}
        if not all(parts.get(k) for k in ("question", "answer", "explanation")):
            return None, "output lacks a Question/Answer/Explanation line"
        passage = " ".join(source.fields.values())
        if parts["answer"].lower() not in passage.lower():
            return None, f"answer {parts['answer']!r} does not occur in the passage"
        return QATriple(question=parts["question"], answer=parts["answer"], explanation=parts["explanation"]), ""

    def _filter(self, sources: list[SourceExample], by_source: dict, ctx: BuildContext, out: BuildOutput) -> None:
        for source in sources:
            candidates = by_source[source.id]
            if not candidates:
                continue
            vectors = ctx.embed([t.explanation for t, _, _ in candidates])
            inputs = ctx.embed(list(source.fields.values()))
            kept_vectors: list[np.ndarray] = []
            for (triple, provenance, answer), vector in zip(candidates, vectors, strict=True):
                to_input = float((inputs @ vector).max())
                to_kept = float(max((v @ vector for v in kept_vectors), default=0.0))
                scores = {"max_input_similarity": round(to_input, 4), "max_sibling_similarity": round(to_kept, 4)}
                if to_input > self.settings.max_input_similarity:
                    reason = f"restates the input (cosine {to_input:.3f} > {self.settings.max_input_similarity})"
                elif to_kept > self.settings.max_duplicate_similarity:
                    reason = f"near-duplicate of a kept candidate (cosine {to_kept:.3f})"
                else:
                    kept_vectors.append(vector)
                    out.kept.append(ctx.candidate(source, triple, provenance, scores))
                    continue
                out.rejected.append(RejectedCandidate(source.id, self.settings.id, self.kind, reason, provenance,
                                             payload=triple.model_dump(mode="json") | answer.raw,
                                             scores=scores))


def _describe(source: SourceExample, mode: str = "explain_label") -> str:
    shown = "\n".join(f"{name}: {text}" for name, text in source.fields.items())
    return shown if mode == "passage_qa" else f"{shown}\nlabel: {source.label}"
