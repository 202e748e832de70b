"""Benchmark: candidates per second and peak memory of each builder on e-SNLI dev pairs (CPU).

Each builder runs in a fresh child process (so its peak RSS is its own) on a store with the full e-SNLI dev
split, over the first N pairs, after its models are loaded (load time is reported separately; the linear
classifier head, trained on 1,500 pairs outside the slice, is cached after the first run).
Prints a Markdown table. Run with `make bench-builders`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

TARGETS = '[builder.targets]\nentailment = "contradiction"\ncontradiction = "entailment"\nneutral = "contradiction"'
BUILDERS = {
    "ig": ('type = "attribution_rationale"\nmethod = "integrated_gradients"', 60),
    "grad_x_input": ('type = "attribution_rationale"\nmethod = "gradient_x_input"', 60),
    "occlusion": ('type = "attribution_rationale"\nmethod = "occlusion"', 60),
    "rules": (f'type = "rule_counterfactual"\nfield = "hypothesis"\n{TARGETS}', 120),
    "llm_explanation": ('type = "llm_explanation"\nsamples = 2\nbatch_size = 8', 16),
    "llm_rationale": ('type = "llm_rationale"\nbatch_size = 8', 16),
    "llm_counterfactual": (f'type = "llm_counterfactual"\nfield = "hypothesis"\nbatch_size = 8\n{TARGETS}', 16),
}
CHILD = """
import json, resource, sys, time
from pathlib import Path
from whyset.builders.context import BuildContext, CorpusView
from whyset.builders.recipe import load_recipe
from whyset.builders.run import build, select_sources
from whyset.corpora.store import CorpusStore
with CorpusStore(Path(sys.argv[1])) as db:
    recipe = load_recipe(Path(sys.argv[2]))
    start = time.perf_counter()
    ctx = BuildContext(CorpusView.from_store(db, recipe, {s.id for s in select_sources(db, recipe)}), recipe)
    ctx.classifier; ctx.generator  # load (and cache) models before timing
    from whyset.builders.rule_edits import nlp, wordnet; nlp(); wordnet()
    loaded = time.perf_counter() - start
    report = next(iter(build(db, Path(sys.argv[2])).values()))
print(json.dumps({"load_s": loaded, "seconds": report.seconds, "sources": report.sources,
                  "kept": report.kept, "rejected": report.rejected,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--esnli", type=Path, required=True)
    parser.add_argument("--only", nargs="*", default=list(BUILDERS))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base.duckdb"
        subprocess.run([str(Path(sys.executable).with_name("whyset")), "import", "esnli", str(args.esnli), "--store", str(base)],
                       check=True, capture_output=True)
        print("| builder | pairs | candidates kept / rejected | wall s | pairs/s | candidates/s | load s | peak RSS MB |")
        print("|---|---|---|---|---|---|---|---|", flush=True)
        for name in args.only:
            body, pairs = BUILDERS[name]
            store = Path(tmp) / f"{name}.duckdb"
            store.write_bytes(base.read_bytes())
            recipe = Path(tmp) / f"{name}.toml"
            recipe.write_text(f'[sources]\nlimit = {pairs}\n[classifier]\ntrain_limit = 1500\n'
                              f'[[builder]]\nid = "{name}"\n{body}\n')
            done = subprocess.run([sys.executable, "-c", CHILD, str(store), str(recipe)], capture_output=True,
                                  text=True, check=False)
            if done.returncode != 0:
                print(f"| {name} | failed: {done.stderr.strip().splitlines()[-1]} |", flush=True)
                continue
            r = json.loads(done.stdout.strip().splitlines()[-1])
            made = r["kept"] + r["rejected"]
            print(f"| {name} | {r['sources']} | {r['kept']} / {r['rejected']} | {r['seconds']:.1f} | "
                  f"{r['sources'] / r['seconds']:.2f} | {made / r['seconds']:.2f} | {r['load_s']:.1f} | "
                  f"{r['peak_rss_mb']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
