"""Benchmark: push 10,000 Label Studio tasks with predictions, annotate part of them through the API, pull.

5,000 e-SNLI dev pairs, each with a rationale candidate (the hypothesis' last word), pushed to two
annotators with k=2 (10,000 tasks, 10,000 predictions). ``--annotate`` tasks (default 2,000) are then
annotated by their annotator through the REST API (4 client threads; one POST each, as people do), and the
round is pulled back: snapshot exports of all 10,000 tasks with prediction bodies, client-side validation,
store writes. Prints one Markdown row per phase as it finishes, then the client's peak RSS and the server's
peak RSS (its process tree, sampled every 0.2 s).

Run with `make bench-studio` (needs the Label Studio venv: `whyset studio install`).
"""

from __future__ import annotations

import argparse
import re
import resource
import signal
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil

from whyset.annotation.pull import pull
from whyset.annotation.push import Guideline, items_for, make_view, push
from whyset.annotation.studio import Studio
from whyset.corpora.esnli import import_esnli
from whyset.corpora.kinds.rationale import Rationale, Span
from whyset.corpora.schema import ExplanationRecord, Provenance
from whyset.corpora.store import CorpusStore
from whyset.paths import LABEL_STUDIO_VERSION


class PeakRss:
    """Peak resident memory of a process and its children, sampled in a background thread."""

    def __init__(self, pid: int):
        self.process, self.peak, self._stop = psutil.Process(pid), 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                procs = [self.process, *self.process.children(recursive=True)]
                self.peak = max(self.peak, sum(p.memory_info().rss for p in procs))
            except psutil.Error:
                pass
            time.sleep(0.2)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak / 2**20


def candidates(store: CorpusStore) -> list[ExplanationRecord]:
    records = []
    for source in store.iter_sources():
        hypothesis = source.fields["hypothesis"]
        match = list(re.finditer(r"\w+", hypothesis))[-1]
        span = Span(field="hypothesis", start=match.start(), end=match.end(), text=match.group(), score=0.5)
        rationale = Rationale(spans=[span], label=source.label)
        records.append(ExplanationRecord(
            id=ExplanationRecord.make_id(source.id, "candidate", None, rationale, "last-word"), source_id=source.id,
            role="candidate", explanation=rationale,
            provenance=Provenance(origin="rule", agent_id="last-word", model_name="last-word-baseline")))
    return records


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so `finally` stops the server on a timeout
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--esnli", type=Path, required=True)
    parser.add_argument("--pairs", type=int, default=5000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--annotate", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        studio = Studio.open(Path(tmp) / "studio")
        studio.up(["alice", "bob"])  # one server per annotator
        memory = {h: PeakRss(c.pid) for h, c in studio.servers.items()}
        try:
            with CorpusStore(Path(tmp) / "bench.duckdb") as store:
                import_esnli(store, args.esnli, limit=args.pairs)
                store.add_explanations(candidates(store))
                view = make_view(store, "rationale")
                items = items_for(store, view)
                studio.accounts(["alice", "bob"])
                print(f"| phase | tasks | wall s | tasks/s |  (python {sys.version.split()[0]}, label-studio "
                      f"{LABEL_STUDIO_VERSION}, SQLite, a server per annotator)")
                print("|---|---|---|---|", flush=True)

                start = time.perf_counter()
                report = push(store, studio, "bench", view, items, ["alice", "bob"], 2, Guideline("bench", "b1"))
                _row("push (tasks + predictions)", report.created, time.perf_counter() - start)

                tasks = [(p.annotator, t.task_id, t.source_id) for p in store.studio.projects("bench")
                         for t in store.studio.tasks(p.server, p.project_id)][: args.annotate]
                sources = store.sources_by_id({sid for _, _, sid in tasks})
                clients = {h: studio.client(h, as_annotator=True) for h in ("alice", "bob")}

                def result(source) -> list[dict]:
                    """The label and the premise's real first word as evidence (valid against the source)."""
                    word = source.fields["premise"].split()[0]
                    return [{"from_name": "label", "to_name": "premise", "type": "choices",
                             "value": {"choices": [source.label]}},
                            {"from_name": "evidence_premise", "to_name": "premise", "type": "labels",
                             "value": {"start": 0, "end": len(word), "text": word, "labels": ["evidence"]}}]

                start = time.perf_counter()
                with ThreadPoolExecutor(args.threads) as pool:
                    list(pool.map(lambda t: clients[t[0]].annotate(t[1], result(sources[t[2]]), lead_time=1.0),
                                  tasks))
                _row(f"annotate via API ({args.threads} threads)", len(tasks), time.perf_counter() - start)

                start = time.perf_counter()
                pulled = pull(store, studio, "bench")
                _row(f"pull: snapshot of {report.created} tasks, {dict(pulled.statuses)}", report.created,
                     time.perf_counter() - start)
        finally:
            server_peak = max(m.stop() for m in memory.values())
            studio.down()
    client_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: client {client_peak:.0f} MB, largest server {server_peak:.0f} MB")


def _row(name: str, count: int, seconds: float) -> None:
    print(f"| {name} | {count} | {seconds:.1f} | {count / seconds:.0f} |", flush=True)


if __name__ == "__main__":
    main()
