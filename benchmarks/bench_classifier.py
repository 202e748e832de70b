"""Benchmark: held-out accuracy, training time and peak memory of the offline classifiers on e-SNLI dev.

Both are trained on labelled pairs outside a build slice (the first `--slice` pairs, as a recipe builds them)
and measured on pairs neither saw: the linear head (MiniLM bi-encoder features + logistic regression; its own
20% split of `--linear-train` pairs) and the cross-encoder (MiniLM fine-tuned on the pairs read together;
`--held-out` pairs kept out of `--train` pairs). Each runs in a child process with an empty model cache of its
own, so it really trains and its peak RSS is its own. Run with `make bench-classifier`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = """
import json, os, resource, sys, time
from pathlib import Path
import torch
from whyset.corpora.esnli import import_esnli
from whyset.corpora.store import CorpusStore
head, esnli, skip, train, held_out, epochs = sys.argv[1], Path(sys.argv[2]), *map(int, sys.argv[3:])
with CorpusStore(Path(os.environ["WHYSET_MODEL_CACHE"]) / "c.duckdb") as store:
    import_esnli(store, esnli, explanations=False)
    labels = store.labels
    examples = [(s.id, s.fields, s.label) for s in store.iter_sources() if s.row >= skip][:train]
start = time.perf_counter()
if head == "linear":
    from whyset.builders.classifier import linear_classifier
    _, report = linear_classifier("minilm", ["premise", "hypothesis"], labels, examples)
else:
    from whyset.builders.cross_encoder import CrossEncoderTraining, cross_encoder_classifier
    _, report = cross_encoder_classifier("minilm", ["premise", "hypothesis"], labels, examples,
                                         CrossEncoderTraining(epochs=epochs, held_out=held_out))
report |= {"wall_s": time.perf_counter() - start, "threads": torch.get_num_threads(),
           "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
print(json.dumps(report))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--esnli", type=Path, required=True)
    parser.add_argument("--slice", type=int, default=500, help="pairs a recipe builds (never trained on)")
    parser.add_argument("--linear-train", type=int, default=1500)
    parser.add_argument("--train", type=int, default=9342, help="cross-encoder: labelled pairs, held-out included")
    parser.add_argument("--held-out", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--only", choices=["linear", "cross_encoder"])
    args = parser.parse_args()
    print("| classifier | train pairs | held-out pairs | held-out accuracy | training s (wall incl. features) | "
          "peak RSS MB |")
    print("|---|---|---|---|---|---|", flush=True)
    runs = {"linear": (args.linear_train, 0, 1), "cross_encoder": (args.train, args.held_out, args.epochs)}
    for head, (train, held_out, epochs) in runs.items():
        if args.only and head != args.only:
            continue
        with tempfile.TemporaryDirectory() as cache:
            env = os.environ | {"WHYSET_MODEL_CACHE": cache}
            done = subprocess.run([sys.executable, "-c", CHILD, head, str(args.esnli), str(args.slice), str(train),
                                   str(held_out), str(epochs)], capture_output=True, text=True, env=env, check=False)
        if done.returncode != 0:
            print(f"| {head} | failed: {(done.stderr.strip().splitlines() or ['?'])[-1]} |", flush=True)
            continue
        r = json.loads(done.stdout.strip().splitlines()[-1])
        name = "linear head (MiniLM pair features + logistic regression)" if head == "linear" else \
            f"cross-encoder (MiniLM fine-tuned, {r['epochs']} epoch{'s' * (r['epochs'] > 1)}, batch 32)"
        seconds = r.get("training_seconds", r["wall_s"])
        print(f"| {name} | {r['train']} | {r['held_out']} | {r['held_out_accuracy']:.3f} | {seconds:.0f} "
              f"({r['wall_s']:.0f}) | {r['peak_rss_mb']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
