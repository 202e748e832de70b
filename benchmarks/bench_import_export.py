"""Benchmark: import the full e-SNLI dev split (9,842 pairs x 3 human explanations) and export it.

Run with `make bench`. Each phase runs in a fresh child process so that its peak RSS is its own.
Prints a Markdown table (wall seconds, rows per second, peak resident memory).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

PHASES = {
    "import": "from whyset.corpora.esnli import import_esnli; import_esnli(db, Path(sys.argv[2]))",
    "export": "from whyset.corpora.export import export_dataset; export_dataset(db, Path(sys.argv[3]))",
}
CHILD = """
import json, resource, sys, time
from pathlib import Path
from whyset.corpora.store import CorpusStore
start = time.perf_counter()
with CorpusStore(Path(sys.argv[1])) as db:
    {body}
    rows = db.count("sources") + db.count("annotations")
print(json.dumps({{"seconds": time.perf_counter() - start, "rows": rows,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--esnli", type=Path, required=True)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store, out = Path(tmp) / "bench.duckdb", Path(tmp) / "dataset"
        print(f"| phase | wall s | rows/s | peak RSS MB |  (python {sys.version.split()[0]}, "
              f"{len(os.sched_getaffinity(0))} cores)")
        print("|---|---|---|---|")
        for phase, body in PHASES.items():
            code = CHILD.format(body=body)
            done = subprocess.run([sys.executable, "-c", code, str(store), str(args.esnli), str(out)],
                                  capture_output=True, text=True, check=True)
            result = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"| {phase} | {result['seconds']:.1f} | {result['rows'] / result['seconds']:,.0f} | "
                  f"{result['peak_rss_mb']:.0f} |")
        size = sum(p.stat().st_size for p in out.rglob("*.parquet")) / 1e6
        print(f"\nrows = 9,842 sources + 29,526 annotations; Parquet written: {size:.1f} MB")


if __name__ == "__main__":
    main()
