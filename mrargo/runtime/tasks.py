"""Task bodies shared by every backend: split, map and shuffle (reduce and commit have modules of their own).

Each is a plain function of the job plan, the run's binding and a task
index.  It reads only what earlier tasks committed (their commit markers),
writes its data under attempt-unique names, and commits by writing its own
commit marker last, so any task may be killed and run again at any point.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator
from typing import Any

from mrargo import store
from mrargo.errors import CorruptDataError, MrargoError, OutputExistsError, UserCodeError
from mrargo.plan.model import Binding, JobPlan
from mrargo.runtime import layout
from mrargo.runtime.context import (
    Counters,
    counters_of,
    hook,
    identity_mapper,
    make_job,
    merge_counters,
    run_user,
    task_gc,
    user_error,
    user_method,
)
from mrargo.runtime.inputs import MB, DecodePolicy, Piece, Position, plan_splits, read_blocks, reducer_count, split_bytes
from mrargo.runtime.layout import FRAMEWORK, TaskId, marker_url, read_json, write_json
from mrargo.runtime.mapside import MapOutput
from mrargo.runtime.output import OutputWriter, bump
from mrargo.runtime.runfile import Segment

# -- split -------------------------------------------------------------------


def run_split(plan: JobPlan, run: Binding, step: int) -> int:
    """List the step's inputs, cut them into splits, choose the reducers, write the split list.

    A step whose job does not fix its reducers gets them from its input's
    size here (``reducer_count``), and every later task of the step reads
    the number from the split list.

    The first split of a run also refuses an existing output, so a run
    that cannot commit fails before its first map, not after its last
    reduce.
    """
    if step == 0:
        if not run.overwrite and store.output_has_data(run.output):
            # The URL alone: each backend words the fix (worker.py: -p output= or compile --overwrite).
            raise OutputExistsError(run.output)
        files = store.expand_inputs(run.inputs)
        total = sum(f.size for f in files)
        o = plan.options
        size = split_bytes(total, o.split_mb, o.parallel, o.min_split_mb)
        splits = plan_splits(files, plan.input_format, size, plan.task_cap())
    else:
        prev = step_outputs(plan, run, step - 1)
        splits = [[Piece(o["path"], 0, -1, "run", int(o["records"]), o["task"])] for o in prev]
        total = sum(int(o["bytes"]) for o in prev)
    if not splits:
        # An input of only empty files still runs one (empty) map task.
        splits = [[]]
    sp = plan.steps[step]
    reducers = 0 if sp.map_only else sp.reducers if sp.reducers is not None else reducer_count(total, plan.task_cap())
    write_json(layout.splits_url(run.work_dir, step), {"splits": [[p.to_json() for p in s] for s in splits], "bytes": total, "reducers": reducers})
    return len(splits)


def split_list(run: Binding, step: int) -> Any:
    """The split list of a step: its ``splits``, its input's ``bytes`` and its ``reducers`` (0: map-only)."""
    return read_json(layout.splits_url(run.work_dir, step), f"split list of step {step + 1}", TaskId(step, "split").key)


def split_count(run: Binding, step: int) -> int:
    return len(split_list(run, step)["splits"])


# -- map ---------------------------------------------------------------------


@task_gc
def run_map(plan: JobPlan, run: Binding, step: int, index: int, attempt: str, tmpdir: str, keep: list[Any] | None = None) -> dict[str, Any]:
    """Run map task ``index`` of ``step``: read its split, map, combine, write sorted partitions, commit.

    ``keep``, from a caller whose process ends with ``os._exit`` after the
    task, receives the task's buffers and tables, so that they are never
    freed one object at a time: the exit frees them at once.
    """
    sp = plan.steps[step]
    work = run.work_dir
    listed = split_list(run, step)
    splits = listed["splits"]
    tid = TaskId(step, "map", index, len(splits))
    pieces = [Piece.from_json(p) for p in splits[index]]
    job = make_job(plan, run)
    fw: dict[str, int] = {}
    policy = DecodePolicy(plan.options.decode_errors)
    pos = Position(skips_bad=policy.mode == "skip")
    mapper = user_method(job, sp.mapper, tid.label) if sp.mapper else identity_mapper
    max_record = plan.options.max_record_mb * MB
    # mapper_init and mapper_final see the input file too when the task reads
    # only one (a large file's split), as a Hadoop map task's do; a task that
    # groups several small files has no one file to name there.
    only_file = pieces[0].url if pieces and all(p.url == pieces[0].url for p in pieces) else None

    def blocks() -> Iterator[Iterator[tuple[Any, Any]]]:
        try:
            for piece in pieces:
                job.input_file = piece.url
                yield from read_blocks(piece, policy, pos, max_record)
        finally:
            bump(fw, "map input records", pos.records())

    # In blocks, so that no Python frame runs per line between the file and the mapper.
    records = itertools.chain.from_iterable(blocks())

    last = step == len(plan.steps) - 1
    ext = "part" if (sp.map_only and last) else "run"
    out_path = layout.data_url(work, step, "map", index, attempt, ext)
    bad: list[dict[str, Any]] = []
    with store.atomic_writer(out_path) as f:
        if sp.map_only:
            out: Any = OutputWriter(f, fmt=plan.output_format if last else None, counters=fw, label=tid.label)
        else:
            out = MapOutput(
                partitions=int(listed["reducers"]),
                label=tid.label,
                buffer_bytes=plan.options.sort_buffer_mb * MB,
                tmpdir=tmpdir,
                partitioner=_guarded_partition(job, tid.label) if plan.custom_partition else None,
                combiner=user_method(job, sp.combiner, tid.label) if sp.combiner else None,
                sort_values=plan.sort_values,
                counters=fw,
            )
        run_user(tid.label, "combiner_init", lambda: hook(job, sp.combiner_init))
        job.input_file = only_file
        out.add_from(run_user(tid.label, "mapper_init", lambda: hook(job, sp.mapper_init)))
        if plan.options.max_bad_records:
            _map_skipping(out, mapper, records, tid.label, pos, plan.options.max_bad_records, bad)
        else:
            try:
                out.map_records(records, mapper)
            except MrargoError:
                raise
            except Exception as e:
                raise user_error(tid.label, "mapper", e, pos.describe()) from e
        job.input_file = only_file
        out.add_from(run_user(tid.label, "mapper_final", lambda: hook(job, sp.mapper_final)))
        job.input_file = None
        extra = run_user(tid.label, "combiner_final", lambda: hook(job, sp.combiner_final))
        if sp.map_only:
            out.add_from(extra)
            out.close()
            segments = [(0, out.bytes, out.records)]
        else:
            segments = out.finish(f, extra)
        if keep is not None:
            keep.append(out)
    if policy.replaced:
        bump(fw, "decode errors replaced", policy.replaced)
    if policy.skipped:
        bump(fw, "undecodable records skipped", policy.skipped)
    bad_path = None
    if bad:
        bump(fw, "bad records skipped", len(bad))
        bad_path = layout.data_url(work, step, "map", index, attempt, "bad.jsonl")
        store.put_bytes(bad_path, "".join(json.dumps(b, sort_keys=True) + "\n" for b in bad).encode())
    marker = {
        "task": tid.key,
        "attempt": attempt,
        "path": out_path,
        "segments": segments,
        "bad_records": bad_path,
        "counters": merge_counters({FRAMEWORK: fw}, counters_of(job)),
    }
    write_json(marker_url(work, step, "map", index), marker)
    return marker


def _map_skipping(out: Any, mapper: Any, records: Iterable[tuple[Any, Any]], label: str, pos: Position, limit: int, bad: list[dict[str, Any]]) -> None:
    """The map loop with --max-bad-records: a failing record's output is dropped."""
    for k, v in records:
        try:
            pairs = list(mapper(k, v))
        except MrargoError:
            raise
        except Exception as e:
            where = pos.describe()
            bad.append({"input": where, "error": f"{type(e).__name__}: {e}", "value": v if isinstance(v, str) else repr(v)})
            if len(bad) > limit:
                raise UserCodeError(f"{label}: more than --max-bad-records {limit} records failed; last: mapper raised {type(e).__name__}: {e} (input {where})") from e
            continue
        out.add_from(pairs)


def _guarded_partition(job: Any, label: str) -> Any:
    def partition(key: Any, n: int) -> Any:  # checked by MapOutput._partition
        try:
            return job.partition(key, n)
        except Exception as e:
            raise user_error(label, "partition", e, f"key {key!r}") from e

    return partition


# -- shuffle -----------------------------------------------------------------


def run_shuffle(plan: JobPlan, run: Binding, step: int) -> int:
    """Check every map's commit marker and files, total the counters, hand out partitions."""
    work = run.work_dir
    listed = split_list(run, step)
    M, R = len(listed["splits"]), int(listed["reducers"])
    parts: list[list[dict[str, object]]] = [[] for _ in range(R)]
    part_records = [0] * R
    counters: Counters = {}
    shuffle_bytes = 0
    bad = 0
    for m in range(M):
        tid = TaskId(step, "map", m, M)
        man = read_json(marker_url(work, step, "map", m), f"commit marker of {tid.label}", tid.key)
        path = man["path"]
        segments = man["segments"]
        if len(segments) != R:
            raise CorruptDataError(f"{path}: {len(segments)} partitions, expected {R} (written by {tid.label})", path=path, producer=tid.key)
        end = segments[-1][1] if segments else 0
        try:
            have = store.size(path)
        except FileNotFoundError:
            raise CorruptDataError(f"intermediate file {path} is missing (written by {tid.label})", path=path, producer=tid.key) from None
        if have < end:
            raise CorruptDataError(f"{path}: {have} bytes, expected {end} (written by {tid.label}); it is truncated", path=path, producer=tid.key)
        for r, (start, stop, count) in enumerate(segments):
            if count:
                parts[r].append(Segment(path, start, stop, count, tid.key).to_json())
                part_records[r] += count
                shuffle_bytes += stop - start
        merge_counters(counters, man["counters"])
        bad += int(man["counters"].get(FRAMEWORK, {}).get("bad records skipped", 0))
    limit = plan.options.max_bad_records
    if limit and bad > limit:
        raise UserCodeError(f"step {step + 1}: {bad} records failed in the mapper, more than --max-bad-records {limit}")
    for r in range(R):
        write_json(layout.partition_url(work, step, r), {"segments": parts[r], "records": part_records[r], "reducers": R})
    merge_counters(counters, {FRAMEWORK: {"shuffle bytes": shuffle_bytes}})
    total = sum(part_records)
    summary = {
        "maps": M,
        "reducers": R,
        "records": total,
        "empty partitions": sum(1 for n in part_records if n == 0),
        "largest partition share": round(max(part_records) / total, 4) if total else 0.0,
        "counters": counters,
    }
    write_json(layout.shuffle_url(work, step), summary)
    return R


# -- step outputs and commit ---------------------------------------------------


def step_outputs(plan: JobPlan, run: Binding, step: int) -> list[dict[str, Any]]:
    """The committed outputs of a step, in order: path, records, bytes, task."""
    work = run.work_dir
    sp = plan.steps[step]
    kind = "map" if sp.map_only else "reduce"
    listed = split_list(run, step)
    n = len(listed["splits"]) if sp.map_only else int(listed["reducers"])
    out = []
    for i in range(n):
        tid = TaskId(step, kind, i, n)
        man = read_json(marker_url(work, step, kind, i), f"commit marker of {tid.label}", tid.key)
        if kind == "map":
            start, end, records = man["segments"][0]
            man = dict(man, records=records, bytes=end)
        out.append({"path": man["path"], "records": man["records"], "bytes": man["bytes"], "task": tid.key, "counters": man["counters"]})
    return out


