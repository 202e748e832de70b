"""Benchmark: Label Studio campaigns on SQLite or PostgreSQL (one server per annotator).

1. Push against the SDK, side by side on the same server: the same N tasks (default 3,000) imported by
   ``label_studio_sdk`` (create a project, one ``import_tasks`` call) and by ``whyset push`` (a new round for
   one annotator: checks, planning, project, count check, imports, store writes), free-text tasks (plain)
   and rationale tasks with a prediction each, ``--reps`` times, alternating which goes first; prints both
   medians and the ratio.
2. A round of 5,000 e-SNLI pairs to two annotators with k=2 (10,000 tasks, 10,000 predictions): push;
   ``--annotate`` tasks annotated through the REST API (4 client threads, one POST each, as people do); the
   first pull; ``--edit`` annotations edited and pulled again (only those come back, as new versions); then,
   once the round has been quiet for the pull's safety margin, a re-pull of the unchanged round.
3. Peak RSS of the client, of the largest Label Studio server (its process tree, sampled every 0.2 s) and,
   on PostgreSQL, of the cluster's processes.

Run with `make bench-studio` (both databases; needs the Label Studio venv and PostgreSQL 15's binaries).
"""

from __future__ import annotations

import argparse
import re
import resource
import signal
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' PostgreSQL cluster helper

from tests.pgcluster import PgCluster, cached_cluster
from whyset.annotation import server
from whyset.annotation.pull import SAFETY_MARGIN_S, pull
from whyset.annotation.push import Guideline, items_for, push, task_payload
from whyset.annotation.studio import Studio
from whyset.annotation.views import make_view
from whyset.corpora.esnli import import_esnli
from whyset.corpora.kinds.rationale import Rationale, Span
from whyset.corpora.schema import ExplanationRecord, Provenance
from whyset.corpora.store import CorpusStore
from whyset.paths import LABEL_STUDIO_VERSION, studio_template

PG_ROLE, PG_PASSWORD = "whyset", "whyset-bench-pw"
GUIDE = Guideline("bench", "b1")


class PeakRss:
    """Peak resident memory of some processes and their children, sampled in a background thread."""

    def __init__(self, pids: list[int]):
        self.processes, self.peak, self._stop = [psutil.Process(p) for p in pids], 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                procs = {q.pid: q for p in self.processes for q in (p, *p.children(recursive=True))}
                self.peak = max(self.peak, sum(q.memory_info().rss for q in procs.values()))
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
        match = list(re.finditer(r"\w+", source.fields["hypothesis"]))[-1]
        rationale = Rationale(spans=[Span(field="hypothesis", start=match.start(), end=match.end(),
                                          text=match.group(), score=0.5)], label=source.label)
        records.append(ExplanationRecord(
            id=ExplanationRecord.make_id(source.id, "candidate", None, rationale, "last-word"), source_id=source.id,
            role="candidate", explanation=rationale,
            provenance=Provenance(origin="rule", agent_id="last-word", model_name="last-word-baseline")))
    return records


def push_against_sdk(store: CorpusStore, studio: Studio, tasks: int, reps: int) -> None:
    """Both sides import the same task payloads into a fresh project of the same server, alternating which
    goes first (the server's state after a call is shared)."""
    print(f"\n| {tasks} tasks | SDK import (s) | whyset push (s) | ratio |\n|---|---|---|---|")
    for kind, label in (("freetext", "free text, plain"), ("rationale", "rationale + 1 prediction each")):
        runs = _SideBySide(store, studio, kind, tasks)
        for rep in range(reps):
            for run in ((runs.raw_import, runs.whyset_push) if rep % 2 == 0 else (runs.whyset_push, runs.raw_import)):
                run(rep)
        a, b = statistics.median(runs.sdk), statistics.median(runs.ours)
        print(f"| {label} | {a:.2f} ({', '.join(f'{x:.2f}' for x in runs.sdk)}) | {b:.2f} "
              f"({', '.join(f'{x:.2f}' for x in runs.ours)}) | **{b / a:.2f}** |", flush=True)


class _SideBySide:
    """The SDK's own import and ``whyset push`` of the same ``tasks`` items of one kind, timed per call."""

    def __init__(self, store: CorpusStore, studio: Studio, kind: str, tasks: int):
        self.store, self.studio, self.kind, self.tasks = store, studio, kind, tasks
        self.client, self.view = studio.client("solo"), make_view(store, kind)
        self.items = items_for(store, self.view, limit=tasks)
        self.payloads = [task_payload(self.view, item) for item in self.items]  # exactly what push sends
        self.sdk: list[float] = []
        self.ours: list[float] = []

    def raw_import(self, rep: int) -> None:
        start = time.perf_counter()
        project = self.client.sdk.projects.create(title=f"sdk {self.kind} {rep}", label_config=self.view.config())
        ids = self.client.sdk.projects.import_tasks(project.id, request=self.payloads, return_task_ids=True).task_ids
        self.sdk.append(time.perf_counter() - start)
        assert len(ids) == self.tasks

    def whyset_push(self, rep: int) -> None:
        start = time.perf_counter()
        report = push(self.store, self.studio, f"bench-{self.kind}-{rep}", self.view, self.items, ["solo"], 1, GUIDE)
        self.ours.append(time.perf_counter() - start)
        assert report.created == self.tasks


def campaign(store: CorpusStore, studio: Studio, threads: int, annotate: int, edit: int) -> None:
    view = make_view(store, "rationale")
    items = items_for(store, view)
    print("\n| phase | tasks | wall s | tasks/s |\n|---|---|---|---|", flush=True)
    start = time.perf_counter()
    report = push(store, studio, "campaign", view, items, ["alice", "bob"], 2, GUIDE)
    _row("push (tasks + predictions)", report.created, time.perf_counter() - start)
    again = _timed(lambda: push(store, studio, "campaign", view, items, ["alice", "bob"], 2, GUIDE))
    _row(f"push again (nothing to do: {again[0].already_there} there)", report.created, again[1])

    tasks = [(p.annotator, t.task_id, t.source_id) for p in store.studio.projects("campaign")
             for t in store.studio.tasks(p.server, p.project_id)][:annotate]
    sources = store.sources_by_id({sid for _, _, sid in tasks})
    clients = {h: studio.client(h, as_annotator=True) for h in ("alice", "bob")}

    def result(source, nth: int = 0) -> list[dict]:
        word = source.fields["premise"].split()[nth]
        at = source.fields["premise"].index(word)
        return [{"from_name": "label", "to_name": "premise", "type": "choices", "value": {"choices": [source.label]}},
                {"from_name": "evidence_premise", "to_name": "premise", "type": "labels",
                 "value": {"start": at, "end": at + len(word), "text": word, "labels": ["evidence"]}}]

    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        made = list(pool.map(lambda t: (t[0], clients[t[0]].annotate(t[1], result(sources[t[2]]), lead_time=1.0),
                                        t[2]), tasks))
    _row(f"annotate via API ({threads} threads)", len(tasks), time.perf_counter() - start)

    first, seconds = _timed(lambda: pull(store, studio, "campaign"))
    _row(f"first pull: {first.tasks} annotated tasks of {report.created} read, {dict(first.statuses)}",
         first.tasks, seconds)
    accounts = studio.accounts(["alice", "bob"])
    for handle, annotation, source_id in made[:edit]:
        httpx.patch(f"{studio.server(handle).url}/api/annotations/{annotation}/", timeout=60,
                    headers={"Authorization": f"Token {accounts[handle]['token']}"},
                    json={"result": result(sources[source_id], 1)}).raise_for_status()
    edited, seconds = _timed(lambda: pull(store, studio, "campaign"))
    _row(f"pull after {edit} edits: {edited.tasks} tasks read (safety margin), {edited.edited} new versions",
         edited.tasks, seconds)
    time.sleep(SAFETY_MARGIN_S + 1)  # the round is now quiet for longer than the pull's safety margin
    unchanged, seconds = _timed(lambda: pull(store, studio, "campaign"))
    print(f"| re-pull of the unchanged round ({report.created} tasks): {unchanged.tasks} tasks read | 0 | "
          f"{seconds:.2f} | |", flush=True)


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so `finally` stops the servers on a timeout
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--esnli", type=Path, required=True)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pairs", type=int, default=5000)
    parser.add_argument("--ratio-tasks", type=int, default=3000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--annotate", type=int, default=2000)
    parser.add_argument("--edit", type=int, default=50)
    parser.add_argument("--no-campaign", action="store_true", help="only the push-against-SDK comparison")
    args = parser.parse_args()
    cluster = _cluster() if args.database == "postgresql" else None
    with tempfile.TemporaryDirectory() as tmp:
        database = cluster.url(PG_ROLE, PG_PASSWORD, "bench") if cluster else None
        studio = Studio.open(Path(tmp) / "studio", database)
        studio.up(["solo", "alice", "bob"])
        servers = {h: PeakRss([c.pid]) for h, c in studio.servers.items()}
        postgres = PeakRss([cluster.pid]) if cluster else None
        try:
            with CorpusStore(Path(tmp) / "bench.duckdb") as store:
                import_esnli(store, args.esnli, limit=args.pairs, explanations=False)
                store.add_explanations(candidates(store))
                studio.accounts(["solo", "alice", "bob"])
                print(f"python {sys.version.split()[0]}, label-studio {LABEL_STUDIO_VERSION}, {args.database}, "
                      f"a server per annotator, {psutil.cpu_count()} CPUs")
                push_against_sdk(store, studio, args.ratio_tasks, args.reps)
                if not args.no_campaign:
                    campaign(store, studio, args.threads, args.annotate, args.edit)
        finally:
            largest = max(m.stop() for m in servers.values())
            pg_peak = postgres.stop() if postgres else None
            studio.down()
            if cluster:
                cluster.remove()
    client_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS: client {client_peak:.0f} MB, largest Label Studio server {largest:.0f} MB"
          + (f", PostgreSQL cluster {pg_peak:.0f} MB" if pg_peak is not None else ""))


def _cluster() -> PgCluster:
    def prepare(cluster: PgCluster) -> None:
        cluster.create_role(PG_ROLE, PG_PASSWORD)
        server.migrated_template_database(cluster.url(PG_ROLE, PG_PASSWORD, "whyset"))

    return cached_cluster(studio_template().parent / "postgresql-15-bench-cluster", prepare)


def _timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def _row(name: str, count: int, seconds: float) -> None:
    print(f"| {name} | {count} | {seconds:.1f} | {count / seconds:.0f} |", flush=True)


if __name__ == "__main__":
    main()
