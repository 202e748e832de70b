"""Benchmark: attribution pairs/s (Integrated Gradients with the convergence-delta schedule, gradient x
input) beside the encoder's own forward+backward limit, measured in the same run on the same e-SNLI pairs.

The classifier is the recipe default (`--head linear`: MiniLM bi-encoder + linear head, trained on 1,500
pairs outside the slice) or the cross-encoder (`--head cross_encoder`: MiniLM fine-tuned on 9,342 pairs outside
the slice, 1,000 of them held out), both cached. The limit is how many (pair, pass) forward+backward
computations per second the classifier manages, taken the way attribution takes them (gradients to the input
embeddings), in two shapes: the builder's padded batch, one pass per pair (gradient x input's shape), and
IG's shape (the batch's pairs in the length groups IG forms, 16 steps each, each group cut to its longest
pair). An IG pair that needed n steps costs every schedule tried up to n (8, then 16, then 32: Gauss-Legendre
nodes do not nest), plus two forward passes (f(x), f(baseline)) for its delta; a gradient x input pair costs
one. Pairs/s are end to end through the `attribution_rationale` builder (spans, scores and candidates
included), after the models are loaded. Run with `make bench-attribution`.

`--convergence` adds why IG needs its steps: for the same pairs, the completeness gap |sum of attributions -
(f(x) - f(baseline))| / |f(x) - f(baseline)| after 8, 16, 32, 64 and 128 Gauss-Legendre steps.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--esnli", type=Path, required=True)
    parser.add_argument("--pairs", type=int, default=96)
    parser.add_argument("--batch", type=int, default=16, help="the builder's batch_size")
    parser.add_argument("--tolerance", type=float, default=0.05)
    parser.add_argument("--head", choices=("linear", "cross_encoder"), default="linear")
    parser.add_argument("--convergence", action="store_true", help="also tabulate the gap against the steps")
    args = parser.parse_args()

    import torch

    from whyset.builders.attribution import IGSchedule, group_widths, length_groups
    from whyset.builders.classifier import embeddings
    from whyset.builders.context import BuildContext, CorpusView
    from whyset.builders.rationales import AttributionRationale, AttributionRationaleBuilder
    from whyset.builders.recipe import Recipe
    from whyset.corpora.esnli import import_esnli
    from whyset.corpora.store import CorpusStore

    with tempfile.TemporaryDirectory() as tmp, CorpusStore(Path(tmp) / "c.duckdb") as store:
        classifier_settings = {"head": "linear", "train_limit": 1500} if args.head == "linear" else \
            {"head": "cross_encoder", "train_limit": 9342, "held_out": 1000}
        import_esnli(store, args.esnli, limit=args.pairs + classifier_settings["train_limit"], explanations=False)
        sources = list(store.iter_sources())
        slice_ = [s for s in sources if s.row < args.pairs]
        settings = {m: AttributionRationale(id=m, type="attribution_rationale", method=m, batch_size=args.batch,
                                            delta_tolerance=args.tolerance)
                    for m in ("integrated_gradients", "gradient_x_input")}
        recipe = Recipe(builder=list(settings.values()), models={"device": "cpu"}, classifier=classifier_settings)
        ctx = BuildContext(CorpusView.from_store(store, recipe, {s.id for s in slice_}), recipe)
        classifier = ctx.classifier
        batches = [slice_[i:i + args.batch] for i in range(0, len(slice_), args.batch)]

        # the limit: forward+backward to the input embeddings, padded batches of the builder's size ...
        encoded = [classifier.encode([s.fields for s in b]) for b in batches]
        start = time.perf_counter()
        for enc in encoded * 2:
            inputs = [e.detach().requires_grad_(True) for e in embeddings(classifier.encoder, enc)]
            classifier.logits_from_embeddings(inputs, enc.attention_mask, enc.token_type_ids).sum().backward()
        limit = 2 * len(slice_) / (time.perf_counter() - start)
        # ... and in IG's shape: length groups of 16-step expansions, each cut to its longest pair
        steps16, tokens = 16, IGSchedule().tokens
        start = time.perf_counter()
        for enc in encoded:
            lengths = sum(m.sum(-1) for m in enc.attention_mask)
            embedded = embeddings(classifier.encoder, enc)  # once per batch, as attribution does
            for group in length_groups(lengths, torch.arange(len(lengths)), steps16, tokens):
                widths = group_widths(enc.attention_mask, group)
                inputs = [e[group, :w].detach().repeat(steps16, 1, 1).requires_grad_(True)
                          for e, w in zip(embedded, widths, strict=True)]
                cut = [[t[group, :w].repeat(steps16, 1) for t, w in zip(ts, widths, strict=True)]
                       for ts in (enc.attention_mask, enc.token_type_ids)]
                classifier.logits_from_embeddings(inputs, *cut).sum().backward()
        ig_limit = steps16 * len(slice_) / (time.perf_counter() - start)

        rows = {}
        for method, chosen in settings.items():
            builder = AttributionRationaleBuilder(chosen)
            builder.build(batches[0], ctx)  # warm-up (first-call allocations)
            start = time.perf_counter()
            outputs = [builder.build(b, ctx) for b in batches]
            seconds = time.perf_counter() - start
            steps = [r.scores.get("ig_steps") for o in outputs for r in [*o.kept, *o.rejected]]
            rows[method] = (len(slice_) / seconds, steps)
        if args.convergence:
            gaps = convergence(classifier, encoded, batches)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"threads {torch.get_num_threads()}, {len(slice_)} e-SNLI pairs, batch {args.batch}, "
          f"classifier {classifier.name} (held-out accuracy {ctx.classifier_report.get('held_out_accuracy')}), "
          f"delta tolerance {args.tolerance} x |f(x) - f(baseline)|")
    print("| measure | pairs/s | (pair, pass)/s | ratio to the limit | steps (IG) |")
    print("|---|---|---|---|---|")
    print(f"| encoder forward+backward limit, padded batch of {args.batch} | | {limit:.1f} | 1 | |")
    print(f"| encoder forward+backward limit, IG's length groups x {steps16} steps | | {ig_limit:.1f} | 1 | |")
    for method, (rate, steps) in rows.items():
        if method == "integrated_gradients":
            mean = statistics.mean(steps)
            shares = {n: steps.count(n) for n in (8, 16, 32)}
            # a pair that needed n steps also ran every smaller schedule before (Gauss-Legendre nodes do not
            # nest), and its delta costs two forward passes (~1/3 of a forward+backward each)
            tried = statistics.mean(sum(m for m in (8, 16, 32) if m <= n) + 2 / 3 for n in steps)
            passes = rate * tried
            print(f"| Integrated Gradients (Gauss-Legendre, 8 -> 16 -> 32) | {rate:.2f} | {passes:.1f} | "
                  f"{passes / ig_limit:.2f} | mean {mean:.1f}; 8: {shares[8]}, 16: {shares[16]}, 32: {shares[32]} |")
        else:
            print(f"| gradient x input | {rate:.2f} | {rate:.1f} | {rate / limit:.2f} | |")
    print(f"peak RSS {peak:.0f} MB")
    if args.convergence:
        print("| Gauss-Legendre steps | median relative gap | 90th percentile | pairs within 0.02 | within 0.05 | "
              "within 0.1 |")
        print("|---|---|---|---|---|---|")
        for n, rel in gaps.items():
            within = " | ".join(f"{int((rel <= t).sum())} / {len(rel)}" for t in (0.02, 0.05, 0.1))
            print(f"| {n} | {rel.median():.4f} | {rel.quantile(0.9):.4f} | {within} |")


def convergence(classifier: Any, encoded: list[Any], batches: list[list[Any]]) -> dict[int, Any]:
    """Relative completeness gap per pair after n steps (n = 8 ... 128), explaining the predicted label the
    way the builder does (its logit contrast, the [PAD] baseline)."""
    import torch
    from captum.attr import IntegratedGradients

    from whyset.builders.attribution import contrasts
    from whyset.builders.classifier import baseline, embeddings

    gaps: dict[int, list] = {n: [] for n in (8, 16, 32, 64, 128)}
    for enc, batch in zip(encoded, batches, strict=True):
        inputs = tuple(embeddings(classifier.encoder, enc))
        base = tuple(baseline(classifier.encoder, classifier.tokenizer, enc))
        args, k = (*enc.attention_mask, *enc.token_type_ids), len(inputs)

        def forward(*t, k=k):
            return contrasts(classifier.logits_from_embeddings(t[:k], t[k:2 * k], t[2 * k:]))

        with torch.no_grad():
            fx, fb = forward(*inputs, *args), forward(*base, *args)
        target, rows = fx.argmax(-1), torch.arange(len(batch))
        gap = fx[rows, target] - fb[rows, target]
        for n, found in gaps.items():
            parts = IntegratedGradients(forward).attribute(inputs, baselines=base, target=target, n_steps=n,
                                                           method="gausslegendre", additional_forward_args=args,
                                                           internal_batch_size=512)
            found.append(((sum(p.sum((-1, -2)) for p in parts) - gap).abs() / gap.abs()).detach())
    return {n: torch.cat(parts) for n, parts in gaps.items()}


if __name__ == "__main__":
    main()
