"""Benchmark: `whyset validate run` on the full e-SNLI dev store (9,842 pairs x 3 human explanations).

Run with `make bench`. The store is imported first (not timed); then the validation is timed as the command
runs it (every metric family, the saved run and the HTML report), and each family once more on its own so
the slow one is visible (in a fresh process, so it reuses none of the first pass's cached ROUGE-L pairs and
BLEU n-grams). On a shared machine, the CPU seconds are the figure to compare: wall time there includes waiting
for the other processes.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

TOTAL = """
import json, resource, sys, time
from whyset import Corpus
start = time.perf_counter()
with Corpus.open(sys.argv[1]) as corpus:
    corpus.validate(report=sys.argv[2])
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"seconds": time.perf_counter() - start, "cpu_seconds": usage.ru_utime + usage.ru_stime,
                  "peak_rss_mb": usage.ru_maxrss / 1024}))
"""
PER_FAMILY = """
import json, sys, time
from whyset.corpora.store import CorpusStore
from whyset.errors import WhysetError
from whyset.validators.families import ValidationData, families
with CorpusStore(sys.argv[1]) as store:
    data, out = ValidationData(store), {}
    start = time.perf_counter()
    _ = data.human_annotations, data.sources
    out["(read the store)"] = time.perf_counter() - start
    for family in families():
        start = time.perf_counter()
        try:
            family.compute(data)
        except WhysetError:
            pass
        out[family.name] = time.perf_counter() - start
print(json.dumps(out))
"""


def child(code: str, *args: str) -> dict:
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--esnli", type=Path, required=True)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "bench.duckdb"
        subprocess.run([sys.executable, "-c", ("import sys; from pathlib import Path; "
                        "from whyset.corpora.store import CorpusStore; from whyset.corpora.esnli import import_esnli; "
                        "import_esnli(CorpusStore(sys.argv[1]), Path(sys.argv[2]))"), str(store), str(args.esnli)],
                       check=True)
        total = child(TOTAL, str(store), str(Path(tmp) / "report.html"))
        print(f"| validate run, full e-SNLI dev (29,526 explanations) | {total['seconds']:.1f} s wall, "
              f"{total['cpu_seconds']:.1f} s CPU (process, imports included) | {total['peak_rss_mb']:.0f} MB |")
        for name, seconds in child(PER_FAMILY, str(store)).items():
            print(f"| {name} | {seconds:.2f} s | |")


if __name__ == "__main__":
    main()
