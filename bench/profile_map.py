"""Where a map task's CPU goes, stage by stage, against the job's own mapper.

    python bench/profile_map.py bench/corpus/100000000b-16f            # word count, map task 1
    python bench/profile_map.py DIR --job lineindex --task 2 -n 3
    python bench/profile_map.py FILE [FILE ...] --split-mb 8

The input is planned into map tasks exactly as ``mrargo run`` plans it (the
same ``plan_splits`` and default split size), and the tasks are listed.  One
task's pieces are then run in this process, stage by stage, each stage
adding one part of the real map task.  CPU seconds (user + system), the
minimum of N runs so a busy machine matters less:

* read + decode: mrargo's record reader alone;
* read + mapper, drained in C: the user-code limit's map work on this task;
* read + mapper + grouping: ``MapOutput.map_records``, the task's hot loop;
  the difference from the line above is the engine's per-pair work;
* finish: combine (the combiner calls and their bookkeeping), encode and
  partition, sort, pack and write, timed apart inside ``MapOutput.finish``.

The job is the workload's own file (examples/*.py, bench/jobs/*.py), loaded
as mrargo loads it.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import gc
import io
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from itertools import chain, starmap
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lineup import JOBS, WORKERS  # noqa: E402

from mrargo import store  # noqa: E402
from mrargo.plan.build import build_plan  # noqa: E402
from mrargo.plan.loader import new_job  # noqa: E402
from mrargo.runtime import mapside  # noqa: E402
from mrargo.runtime.context import TASK_GC_THRESHOLDS  # noqa: E402
from mrargo.runtime.inputs import MB, DecodePolicy, Position, plan_splits, read_piece, reducer_count, split_bytes  # noqa: E402
from mrargo.runtime.mapside import MapOutput  # noqa: E402
from mrargo.runtime.runfile import RunWriter  # noqa: E402

WORD = re.compile(r"[a-z]+")


def cpu(fn: Callable[[], object], runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        t = time.process_time()
        fn()
        best = min(best, time.process_time() - t)
    return best


class StageClock:
    """CPU seconds spent inside some functions, accumulated while installed."""

    def __init__(self) -> None:
        self.seconds: collections.defaultdict[str, float] = collections.defaultdict(float)

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            t = time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[name] += time.process_time() - t

        return timed

    @contextlib.contextmanager
    def installed(self, out: MapOutput) -> Iterator[None]:
        """Time the task's parts: combining in place and spilling during the map; the finish's drain of waiting keys, encoding, sorting and writing."""
        saved = (mapside._sort_records, RunWriter.write_all)
        out._check_groups = self.wrap("in-map combine + spill", out._check_groups)  # type: ignore[method-assign]
        out._drain_groups = self.wrap("drain", out._drain_groups)  # type: ignore[method-assign]
        out._bucket = self.wrap("encode + partition", out._bucket)  # type: ignore[method-assign]
        mapside._sort_records = self.wrap("sort", mapside._sort_records)
        RunWriter.write_all = self.wrap("pack + write", RunWriter.write_all)  # type: ignore[method-assign]
        try:
            yield
        finally:
            mapside._sort_records, RunWriter.write_all = saved  # type: ignore[method-assign]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("inputs", nargs="+", help="files or directories, as given to mrargo run -i")
    ap.add_argument("--job", default="wordcount", choices=list(JOBS), help="the workload whose job runs (default: wordcount)")
    ap.add_argument("--task", type=int, default=1, help="which map task to profile, from 1 (default: 1)")
    ap.add_argument("--split-mb", type=int, default=0, help="split size, as mrargo run --split-mb (default: 0, mrargo's rule)")
    ap.add_argument("--workers", type=int, default=WORKERS, help=f"the workers mrargo's split rule plans for (default: {WORKERS})")
    ap.add_argument("--reducers", type=int, help="partitions (default: the job's, or mrargo's rule for the input's size)")
    ap.add_argument("-n", type=int, default=4, help="runs per stage (default 4)")
    args = ap.parse_args()
    runs = args.n

    plan, _ = build_plan(JOBS[args.job], reducers=args.reducers)
    step = plan.steps[0]
    files = store.expand_inputs([store.normalize(i) for i in args.inputs])
    total = sum(f.size for f in files)
    size = split_bytes(total, args.split_mb, args.workers, plan.options.min_split_mb)
    splits = plan_splits(files, plan.input_format, size, plan.options.max_tasks)
    partitions = step.reducers if step.reducers is not None else reducer_count(total, plan.task_cap())
    print(f"{len(files)} files, {total / 1e6:.1f} MB -> {len(splits)} map task(s) of about {size / MB:.1f} MiB for {args.workers} workers:")
    for i, s in enumerate(splits, 1):
        size = sum((p.end - p.start) if p.end >= 0 else os.path.getsize(p.url) for p in s)
        print(f"  map {i}: {len(s)} piece(s), {size / 1e6:.1f} MB")
    pieces = splits[args.task - 1]
    job = new_job(plan.job)
    mapper = getattr(job, step.mapper or "")
    combiner = getattr(job, step.combiner) if step.combiner else None
    max_record = plan.options.max_record_mb * MB

    def records() -> Iterator[tuple[Any, Any]]:
        for piece in pieces:
            job.input_file = piece.url
            yield from read_piece(piece, DecodePolicy("strict"), Position(), max_record)

    def read_only() -> None:
        collections.deque(records(), maxlen=0)

    def read_map() -> None:
        collections.deque(chain.from_iterable(starmap(mapper, records())), maxlen=0)

    def p0() -> None:
        c: collections.Counter[str] = collections.Counter()
        for piece in pieces:
            with open(piece.url, encoding="utf-8") as f:
                for line in f:
                    c.update(WORD.findall(line.lower()))

    found: dict[str, list[float]] = collections.defaultdict(list)
    counters: dict[str, int] = {}

    def whole() -> None:
        counters.clear()
        with tempfile.TemporaryDirectory() as tmp:
            out = MapOutput(
                partitions=partitions,
                label="profile",
                buffer_bytes=plan.options.sort_buffer_mb * MB,
                tmpdir=tmp,
                combiner=combiner,
                sort_values=plan.sort_values,
                counters=counters,
            )
            clock = StageClock()
            with clock.installed(out):
                t = time.process_time()
                out.map_records(records(), mapper)
                in_map = dict(clock.seconds)
                t2 = time.process_time()
                out.finish(io.BytesIO())
                t3 = time.process_time()
            after = clock.seconds
            found["read + mapper + grouping"].append(t2 - t)
            found["  of which in-map combine + spill"].append(in_map.get("in-map combine + spill", 0.0))
            found["finish"].append(t3 - t2)
            drain = after["drain"] - in_map.get("drain", 0.0)
            bucket = after["encode + partition"] - in_map.get("encode + partition", 0.0)
            found["  combine (combiner calls + bookkeeping)"].append(drain - bucket)
            found["  encode + partition"].append(bucket)
            for name in ("sort", "pack + write"):
                found["  " + name].append(after[name] - in_map.get(name, 0.0))

    gc.set_threshold(*TASK_GC_THRESHOLDS)  # as in a task
    print(f"\nmap task {args.task} of {args.job}, CPU s (min of {runs}):")
    if args.job == "wordcount":
        print(f"  {'P0 (Counter loop) on these pieces':44s} {cpu(p0, runs):7.3f}")
    print(f"  {'read + decode':44s} {cpu(read_only, runs):7.3f}")
    print(f"  {'read + mapper, drained in C (the limit)':44s} {cpu(read_map, runs):7.3f}")
    cpu(whole, runs)
    for name, values in found.items():
        print(f"  {name:44s} {min(values):7.3f}")
    pairs = counters.get("map output records", 0)
    print(
        f"\n  pairs {pairs:,}; combine in {counters.get('combine input records', 0):,} -> out {counters.get('combine output records', 0):,}"
    )


if __name__ == "__main__":
    main()
