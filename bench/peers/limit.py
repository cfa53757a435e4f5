"""The user-code limit: a job's own mapper and reducer alone, over N processes, timed.

    python limit.py WORKLOAD CORPUS OUT_DIR [--procs N]

No engine can run a job faster than its user code runs.  This peer loads
the very job class that mrargo runs (examples/*.py, bench/jobs/*.py) and
times, step by step:

* **map**: each of N processes reads its share of the input (byte-balanced
  ranges of whole lines, or whole files balanced by bytes for
  ``INPUT_FORMAT = "files"``) in 1 MiB blocks, decodes it, and drains the
  job's mapper over its records in C (``deque(chain.from_iterable(...),
  maxlen=0)``): no pair is counted, grouped or kept;
* **reduce**: each of N processes (at most the step's reducers) calls the
  job's reducer once per key of its share, with the values that the job's
  combiner left for that key in each map process, and keeps the output.
  The keys are dealt out to the processes in turn.

The limit is the sum over phases of the slowest process's wall time, and
its CPU time the sum over every process.  Not in the limit, and reported
beside it: the input read alone (1 MiB blocks, decoded and split), the
mapper alone in one process, and the job's combiner, which a job need not
have.  Grouping the pairs between the phases is engine work: it runs, but
untimed.  The reducer's output is the answer, written as ``"key"<TAB>value``
JSON lines so the harness checks it like any peer's; the timings go to
``_limit.json`` beside it.
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import os
import sys
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import chain, repeat, starmap
from typing import Any

from lineup import JOBS, LIMIT_TIMINGS  # JOBS: the very files the mrargo peer runs
from results_io import corpus_files, halves, peer_parser

BLOCK = 1 << 20  # bytes read at a time, as mrargo's reader does

Pairs = list[tuple[Any, Any]]
Range = tuple[str, int, int]  # path, start, end


# -- shares of the input -----------------------------------------------------------------


def line_shares(paths: list[str], n: int) -> list[list[Range]]:
    """n byte ranges of about equal size over the files in order, each cut after a newline."""
    sizes = [os.path.getsize(p) for p in paths]
    total = sum(sizes)
    shares: list[list[Range]] = [[] for _ in range(n)]
    share, base = 0, 0
    for path, size in zip(paths, sizes, strict=True):
        pos = 0
        while share < n - 1 and base + size > total * (share + 1) // n:
            cut = after_newline(path, total * (share + 1) // n - base, size)
            if cut > pos:
                shares[share].append((path, pos, cut))
            pos = max(pos, cut)
            share += 1
        if pos < size:
            shares[share].append((path, pos, size))
        base += size
    return shares


def after_newline(path: str, offset: int, size: int) -> int:
    """The offset just after the line that holds byte offset - 1 (0 stays 0)."""
    if offset <= 0:
        return 0
    with open(path, "rb") as f:
        f.seek(offset - 1)
        at = offset - 1
        while chunk := f.read(65536):
            i = chunk.find(b"\n")
            if i >= 0:
                return at + i + 1
            at += len(chunk)
    return size


def file_shares(paths: list[str], n: int) -> list[list[Range]]:
    """Whole files in n groups of about equal bytes (largest first, to the lightest group)."""
    loads = [0] * n
    shares: list[list[Range]] = [[] for _ in range(n)]
    for path in sorted(paths, key=lambda p: (-os.path.getsize(p), p)):
        i = loads.index(min(loads))
        size = os.path.getsize(path)
        shares[i].append((path, 0, size))
        loads[i] += size
    return [sorted(s) for s in shares]


def blocks(path: str, start: int, end: int) -> Iterator[bytes]:
    """The range's bytes in blocks of about BLOCK bytes, each ending at a newline."""
    with open(path, "rb") as f:
        f.seek(start)
        left, rest = end - start, b""
        while left > 0:
            data = f.read(min(BLOCK, left))
            if not data:
                break
            left -= len(data)
            data = rest + data
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                rest = data
                continue
            yield data[:cut]
            rest = data[cut:]
        if rest:
            yield rest


def split_lines(data: bytes) -> list[str]:
    lines = data.decode("utf-8").split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


# -- the job ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepCode:
    """One step's user methods, bound to the job instance."""

    mapper: Callable[..., Iterable[Any]]
    combiner: Callable[..., Iterable[Any]] | None
    reducer: Callable[..., Iterable[Any]] | None
    reducers: int | None  # None: chosen from the input's size


HOOKS = ("mapper_init", "mapper_final", "combiner_init", "combiner_final", "reducer_init", "reducer_final")


class Job:
    """The job's instance and its steps' methods, looked up as mrargo's tasks look them up."""

    def __init__(self, path: str) -> None:
        from mrargo.plan.build import build_plan
        from mrargo.plan.loader import new_job
        from mrargo.runtime.context import TASK_GC_THRESHOLDS

        plan, _ = build_plan(path)
        self.input_format = plan.input_format
        self.instance = new_job(plan.job)
        self.gc_thresholds = TASK_GC_THRESHOLDS
        self.steps: list[StepCode] = []
        for sp in plan.steps:
            hooks = [h for h in HOOKS if getattr(sp, h)]
            if hooks:
                raise SystemExit(f"limit: {path}: hooks ({', '.join(hooks)}) are not supported here")
            method = self.method
            self.steps.append(StepCode(method(sp.mapper) or identity, method(sp.combiner), method(sp.reducer), sp.reducers))

    def method(self, name: str | None) -> Callable[..., Iterable[Any]] | None:
        return None if name is None else getattr(self.instance, name)


JOB: Job | None = None  # set in the parent before any fork


def job() -> Job:
    assert JOB is not None
    return JOB


def drain(pairs: Iterable[Any]) -> None:
    """Consume an iterable in C: the cheapest way to run a generator to its end."""
    deque(pairs, maxlen=0)


def identity(key: Any, value: Any) -> Iterator[tuple[Any, Any]]:
    yield key, value


def read_input(share: list[Range]) -> None:
    """Read, decode and split the share into lines (or whole texts), and nothing else."""
    files = job().input_format == "files"
    for path, start, end in share:
        for data in blocks(path, start, end):
            if files:
                data.decode("utf-8")
            else:
                split_lines(data)


def map_input(share: list[Range], mapper: Callable[..., Iterable[Any]], sink: Callable[[Iterable[Any]], Any]) -> None:
    """Read the share and run the mapper over every record, its pairs going to sink."""
    instance = job().instance
    if job().input_format == "files":
        for path, _, _ in share:
            with open(path, "rb") as f:
                text = f.read().decode("utf-8")
            instance.input_file = path
            sink(mapper(path, text))
        return
    for path, start, end in share:
        instance.input_file = path
        for data in blocks(path, start, end):
            sink(chain.from_iterable(map(mapper, repeat(None), split_lines(data))))


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """fn's result, wall seconds and CPU seconds (user + sys of this process)."""
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


# -- the phases, each run in a worker process ------------------------------------------------


def map_task(args: tuple[int, list[Any]]) -> dict[str, Any]:
    """One map process: read alone, read + mapper (timed), then the combiner's output for the reducers.

    Step 1's share is a list of byte ranges of the input; a later step's
    share is a list of the previous step's output pairs.
    """
    step_no, share = args
    step = job().steps[step_no]
    mapper = step.mapper
    gc.set_threshold(*job().gc_thresholds)

    def run_mapper(sink: Callable[[Iterable[Any]], Any]) -> None:
        if step_no == 0:
            map_input(share, mapper, sink)
        else:
            sink(chain.from_iterable(starmap(mapper, share)))

    out: dict[str, Any] = {"read_s": 0.0, "read_cpu": 0.0}
    if step_no == 0:
        _, out["read_s"], out["read_cpu"] = timed(lambda: read_input(share))
    _, out["map_s"], out["map_cpu"] = timed(lambda: run_mapper(drain))
    # Untimed: the engine's part, grouping the pairs by key.
    groups: defaultdict[Any, list[Any]] = defaultdict(list)

    def group(pairs: Iterable[Any]) -> None:
        for k, v in pairs:
            groups[k].append(v)

    run_mapper(group)
    combiner = step.combiner
    if combiner is None:
        out["combine_s"] = out["combine_cpu"] = 0.0
        out["pairs"] = [(k, v) for k, vs in groups.items() for v in vs]
        return out

    def combine() -> Pairs:
        combined: Pairs = []
        for k, vs in groups.items():
            combined.extend(combiner(k, iter(vs)))
        return combined

    out["pairs"], out["combine_s"], out["combine_cpu"] = timed(combine)
    return out


def reduce_task(args: tuple[int, list[tuple[Any, list[Any]]]]) -> dict[str, Any]:
    """One reduce process: the reducer once per key of its share (timed), its output kept."""
    step_no, groups = args
    reducer = job().steps[step_no].reducer
    assert reducer is not None
    gc.set_threshold(*job().gc_thresholds)

    def reduce() -> Pairs:
        output: Pairs = []
        extend = output.extend
        for k, vs in groups:
            extend(reducer(k, iter(vs)))
        return output

    pairs, wall, cpu = timed(reduce)
    return {"pairs": pairs, "reduce_s": wall, "reduce_cpu": cpu}


def in_parallel(fn: Callable[[Any], dict[str, Any]], tasks: list[Any]) -> list[dict[str, Any]]:
    """One forked process per task, all at once; each times itself."""
    if not tasks:
        return []
    with multiprocessing.get_context("fork").Pool(len(tasks)) as pool:
        return pool.map(fn, tasks, chunksize=1)


# -- the whole job ------------------------------------------------------------------------


def run_limit(paths: list[str], procs: int) -> tuple[Pairs, dict[str, Any]]:
    """Run every step's mapper and reducer alone; return the last reducer's output and the timings."""
    j = job()
    shares = file_shares(paths, procs) if j.input_format == "files" else line_shares(paths, procs)
    timings: dict[str, Any] = {"procs": procs, "steps": []}
    # The mapper alone in one process, over the whole input (this process is fresh).
    gc.set_threshold(*j.gc_thresholds)
    everything = [r for share in shares for r in share]
    mapper0 = j.steps[0].mapper
    _, timings["read_1proc_s"], _ = timed(lambda: read_input(everything))
    _, timings["map_1proc_s"], timings["map_1proc_cpu"] = timed(lambda: map_input(everything, mapper0, drain))
    records: Pairs = []
    from mrargo.runtime.inputs import reducer_count

    input_bytes = sum(os.path.getsize(p) for p in paths)
    for step_no, step in enumerate(j.steps):
        tasks: list[Any] = [(step_no, s) for s in shares] if step_no == 0 else [(step_no, s) for s in halves(records, procs)]
        maps = in_parallel(map_task, [t for t in tasks if t[1]])
        # Untimed: the shuffle.  Each key gets one value list, map process by map process.
        groups: defaultdict[Any, list[Any]] = defaultdict(list)
        for m in maps:
            for k, v in m.pop("pairs"):
                groups[k].append(v)
        # A job that leaves its reducers to mrargo gets them from the input's size, as a run does.
        reducers = max(1, min(procs, step.reducers if step.reducers is not None else reducer_count(input_bytes, 1 << 30)))
        keyed = list(groups.items())
        del groups
        # Keys dealt out in turn, as a hash partitioner spreads them: the first
        # keys met are the common ones, so contiguous halves would be unequal.
        reduces = in_parallel(reduce_task, [(step_no, keyed[i::reducers]) for i in range(reducers) if keyed[i::reducers]])
        del keyed
        records = [p for r in reduces for p in r.pop("pairs")]
        timings["steps"].append({"maps": maps, "reduces": reduces})
    timings.update(summarize(timings["steps"]))
    return records, timings


def summarize(steps: list[dict[str, Any]]) -> dict[str, float]:
    """The limit (wall and CPU), and its parts, from every process's own timings."""
    s: dict[str, float] = {k: 0.0 for k in ("read_s", "map_s", "combine_s", "reduce_s", "limit_cpu", "combine_cpu")}
    for step in steps:
        maps, reduces = step["maps"], step["reduces"]
        s["read_s"] += max((m["read_s"] for m in maps), default=0.0)
        s["map_s"] += max((m["map_s"] for m in maps), default=0.0)
        s["combine_s"] += max((m["combine_s"] for m in maps), default=0.0)
        s["reduce_s"] += max((r["reduce_s"] for r in reduces), default=0.0)
        s["limit_cpu"] += sum(m["map_cpu"] for m in maps) + sum(r["reduce_cpu"] for r in reduces)
        s["combine_cpu"] += sum(m["combine_cpu"] for m in maps)
    s["limit_s"] = s["map_s"] + s["reduce_s"]
    return s


def write_answer(path: str, pairs: Pairs) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(f"{json.dumps(k)}\t{json.dumps(v)}\n" for k, v in pairs)


def main() -> None:
    global JOB
    parser = peer_parser(__doc__, tuple(JOBS))
    parser.add_argument("--procs", type=int, default=2)
    args = parser.parse_args()
    paths = corpus_files(args.corpus)
    JOB = Job(JOBS[args.workload])
    pairs, timings = run_limit(paths, args.procs)
    os.makedirs(args.out, exist_ok=True)
    write_answer(os.path.join(args.out, "part-00000"), pairs)
    with open(os.path.join(args.out, LIMIT_TIMINGS), "w", encoding="utf-8") as f:
        json.dump(timings, f, indent=1)
    print(json.dumps({k: round(v, 3) for k, v in timings.items() if isinstance(v, float)}), file=sys.stderr)


if __name__ == "__main__":
    main()
