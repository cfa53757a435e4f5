"""The reduce side: a bounded k-way merge of one partition from every map, grouped by key, into the reducer."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from operator import itemgetter
from typing import Any

from mrargo import store
from mrargo.errors import CorruptDataError, MrargoError, PlanError
from mrargo.plan.model import Binding, JobPlan
from mrargo.runtime import codec, layout
from mrargo.runtime.context import counters_of, hook, make_job, merge_counters, run_user, task_gc, user_error, user_method
from mrargo.runtime.layout import FRAMEWORK, TaskId, marker_url, read_json, write_json
from mrargo.runtime.output import OutputWriter, bump
from mrargo.runtime.runfile import Segment, iter_record_blocks, merge_bounded
from mrargo.runtime.speedups import speedup

KeyGroups: Any = speedup("KeyGroups")


@task_gc
def run_reduce(plan: JobPlan, run: Binding, step: int, index: int, attempt: str, tmpdir: str) -> dict[str, Any]:
    """Merge partition ``index`` of every map's output, group by key, call the reducer, commit."""
    work = run.work_dir
    sp = plan.steps[step]
    if sp.reducer is None:
        raise PlanError(f"step {step + 1} is map-only; it has no reduce tasks")
    # The number of reducers is the run's (tasks.run_split), written in every partition list.
    part = read_json(layout.partition_url(work, step, index), f"partition list of {TaskId(step, 'reduce', index).label}", TaskId(step, "shuffle").key)
    tid = TaskId(step, "reduce", index, int(part["reducers"]))
    segments = [Segment.from_json(s) for s in part["segments"]]
    stream = merge_bounded([_segment_source(s) for s in segments], plan.options.merge_fan_in, tmpdir)
    job = make_job(plan, run)
    reducer = user_method(job, sp.reducer, tid.label)
    grouped = _key_groups(stream, plan.sort_values)
    fw: dict[str, int] = {"reduce input records": int(part["records"])}
    last = step == len(plan.steps) - 1
    out_path = layout.data_url(work, step, "reduce", index, attempt, "part" if last else "run")
    current: list[Any] = [None]

    def pairs() -> Iterator[tuple[Any, Any]]:
        groups = 0
        try:
            for key, values in grouped:
                current[0] = key
                groups += 1
                yield from reducer(key, values)
        finally:
            bump(fw, "reduce input groups", groups)

    with store.atomic_writer(out_path) as f:
        out = OutputWriter(f, fmt=plan.output_format if last else None, counters=fw, label=tid.label, name="reduce output records")
        out.add_from(run_user(tid.label, "reducer_init", lambda: hook(job, sp.reducer_init)))
        try:
            out.add_from(pairs())
        except MrargoError:
            raise
        except Exception as e:
            raise user_error(tid.label, "reducer", e, f"key {codec.dumps_text(current[0])}") from e
        out.add_from(run_user(tid.label, "reducer_final", lambda: hook(job, sp.reducer_final)))
        out.close()
    marker = {
        "task": tid.key,
        "attempt": attempt,
        "path": out_path,
        "records": out.records,
        "bytes": out.bytes,
        "counters": merge_counters({FRAMEWORK: fw}, counters_of(job)),
    }
    write_json(marker_url(work, step, "reduce", index), marker)
    return marker


def _key_groups(stream: Iterator[tuple[bytes, bytes]], values_are_keys: bool) -> Iterator[tuple[Any, Iterator[Any]]]:
    """(key, values) for each key of the merged records, decoded: in C when built (KeyGroups), else groupby."""
    if KeyGroups is not None:
        return KeyGroups(stream, codec.decode_key, codec.python_decode_value, values_are_keys)  # type: ignore[no-any-return]
    decode_value = codec.decode_key if values_are_keys else codec.decode_value
    return ((codec.decode_key(kb), map(decode_value, map(itemgetter(1), group))) for kb, group in itertools.groupby(stream, key=itemgetter(0)))


def _segment_source(seg: Segment) -> Any:
    def records() -> Iterator[list[tuple[bytes, bytes]]]:
        try:
            for read in store.range_reader(seg.path, seg.start, seg.end):
                yield from iter_record_blocks(read, seg.path, seg.producer, seg.records)
        except FileNotFoundError:
            raise CorruptDataError(f"intermediate file {seg.path} is missing (written by {seg.producer})", path=seg.path, producer=seg.producer) from None

    return records
