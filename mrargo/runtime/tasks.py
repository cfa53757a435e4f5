"""Task bodies shared by every backend: split, map, shuffle, reduce, commit.

Each is a plain function of the plan and a task index.  It reads only what
earlier tasks committed (their manifests), writes its data under
attempt-unique names, and commits by writing its own manifest last, so any
task may be killed and run again at any point.
"""

from __future__ import annotations

import functools
import gc
import itertools
import json
from collections.abc import Callable, Iterable, Iterator
from operator import itemgetter
from typing import Any, BinaryIO, TypeVar

from mrargo import store
from mrargo.api import MapReduce, identity_mapper
from mrargo.errors import CorruptDataError, MrargoError, OutputExistsError, UserCodeError
from mrargo.plan import Plan
from mrargo.runtime import codec, layout
from mrargo.runtime.context import Counters, hook, make_job, merge_counters, run_user, user_counters, user_error
from mrargo.runtime.inputs import MB, DecodePolicy, Piece, Position, plan_splits, read_piece
from mrargo.runtime.layout import TaskId, manifest_url, read_json, write_json
from mrargo.runtime.mapside import MapOutput, encoding_errors
from mrargo.runtime.runfile import RunWriter, Segment, iter_record_blocks, merge_bounded

FRAMEWORK = "mrargo"


# Cyclic-GC thresholds while a map or reduce task runs.  A task holds
# hundreds of thousands of live containers (a key's waiting values), and
# Python's default (700, 10, 10) traverses them over and over: an index
# task spent 1.98 s combining with the default and 0.48 s with these.
# Garbage still goes at the latest after 50,000 new containers, so memory
# stays bounded.
TASK_GC_THRESHOLDS = (50_000, 20, 20)

F = TypeVar("F", bound=Callable[..., Any])


def _task_gc(fn: F) -> F:
    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        saved = gc.get_threshold()
        gc.set_threshold(*TASK_GC_THRESHOLDS)
        try:
            return fn(*args, **kwargs)
        finally:
            gc.set_threshold(*saved)

    return run  # type: ignore[return-value]


def _bump(c: dict[str, int], name: str, n: int = 1) -> None:
    c[name] = c.get(name, 0) + n


# -- split -------------------------------------------------------------------


def run_split(plan: Plan, step: int) -> int:
    """List the step's inputs, cut them into splits, write the split manifest."""
    if step == 0:
        files = store.expand_inputs(plan.inputs)
        splits = plan_splits(files, plan.input_format, plan.options.split_mb * MB)
        total = sum(f.size for f in files)
    else:
        prev = step_outputs(plan, step - 1)
        splits = [[Piece(o["path"], 0, -1, "run", int(o["records"]), o["task"])] for o in prev]
        total = sum(int(o["bytes"]) for o in prev)
    if not splits:
        # An input of only empty files still runs one (empty) map task.
        splits = [[]]
    write_json(layout.splits_url(plan.work_dir, step), {"splits": [[p.to_json() for p in s] for s in splits], "bytes": total})
    return len(splits)


def split_count(plan: Plan, step: int) -> int:
    tid = TaskId(step, "split")
    return len(read_json(layout.splits_url(plan.work_dir, step), f"split manifest of step {step + 1}", tid.key)["splits"])


# -- map ---------------------------------------------------------------------


@_task_gc
def run_map(plan: Plan, step: int, index: int, attempt: str, tmpdir: str) -> dict[str, Any]:
    sp = plan.steps[step]
    work = plan.work_dir
    splits = read_json(layout.splits_url(work, step), f"split manifest of step {step + 1}", TaskId(step, "split").key)["splits"]
    tid = TaskId(step, "map", index, len(splits))
    pieces = [Piece.from_json(p) for p in splits[index]]
    job = make_job(plan)
    fw: dict[str, int] = {}
    policy = DecodePolicy(plan.options.decode_errors)
    pos = Position()
    mapper = getattr(job, sp.mapper) if sp.mapper else identity_mapper
    max_record = plan.options.max_record_mb * MB

    def records() -> Iterator[tuple[Any, Any]]:
        n = 0
        try:
            for piece in pieces:
                job.input_file = piece.url
                for kv in read_piece(piece, policy, pos, max_record):
                    n += 1
                    yield kv
        finally:
            _bump(fw, "map input records", n)

    last = step == len(plan.steps) - 1
    ext = "part" if (sp.map_only and last) else "run"
    out_path = layout.data_url(work, step, "map", index, attempt, ext)
    bad: list[dict[str, Any]] = []
    with store.atomic_writer(out_path) as f:
        if sp.map_only:
            out: Any = OutputWriter(f, text=last, counters=fw, label=tid.label)
        else:
            out = MapOutput(
                partitions=sp.reducers,
                label=tid.label,
                buffer_bytes=plan.options.sort_buffer_mb * MB,
                tmpdir=tmpdir,
                partitioner=_guarded_partition(job, tid.label) if plan.custom_partition else None,
                combiner=getattr(job, sp.combiner) if sp.combiner else None,
                sort_values=plan.sort_values,
                counters=fw,
            )
        run_user(tid.label, "combiner_init", lambda: hook(job, sp.combiner_init))
        out.add_from(run_user(tid.label, "mapper_init", lambda: hook(job, sp.mapper_init)))
        if plan.options.max_bad_records:
            _map_skipping(out, mapper, records(), tid.label, pos, plan.options.max_bad_records, bad)
        else:
            try:
                out.map_records(records(), mapper)
            except MrargoError:
                raise
            except Exception as e:
                raise user_error(tid.label, "mapper", e, pos.describe()) from e
        job.input_file = None
        out.add_from(run_user(tid.label, "mapper_final", lambda: hook(job, sp.mapper_final)))
        extra = run_user(tid.label, "combiner_final", lambda: hook(job, sp.combiner_final))
        if sp.map_only:
            out.add_from(extra)
            out.close()
            segments = [(0, out.bytes, out.records)]
        else:
            segments = out.finish(f, extra)
    if policy.replaced:
        _bump(fw, "decode errors replaced", policy.replaced)
    if policy.skipped:
        _bump(fw, "undecodable records skipped", policy.skipped)
    bad_path = None
    if bad:
        _bump(fw, "bad records skipped", len(bad))
        bad_path = layout.data_url(work, step, "map", index, attempt, "bad.jsonl")
        store.put_bytes(bad_path, "".join(json.dumps(b, sort_keys=True) + "\n" for b in bad).encode())
    manifest = {
        "task": tid.key,
        "attempt": attempt,
        "path": out_path,
        "segments": segments,
        "bad_records": bad_path,
        "counters": merge_counters({FRAMEWORK: fw}, user_counters(job)),
    }
    write_json(manifest_url(work, step, "map", index), manifest)
    return manifest


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


def _guarded_partition(job: MapReduce, label: str) -> Any:
    def partition(key: Any, n: int) -> int:
        try:
            return job.partition(key, n)
        except Exception as e:
            raise user_error(label, "partition", e, f"key {key!r}") from e

    return partition


class OutputWriter:
    """Writes pairs as output text (json TAB json lines) or as a run file."""

    def __init__(self, f: BinaryIO, *, text: bool, counters: dict[str, int], label: str, name: str = "map output records") -> None:
        self.f = f
        self.label = label
        self.text = text
        self.counters = counters
        self.name = name
        self.records = 0
        self.bytes = 0
        self.buf: list[str] = []
        self.buf_len = 0
        self.run = None if text else RunWriter(f)

    def map_records(self, records: Iterable[tuple[Any, Any]], mapper: Any) -> None:
        for k, v in records:
            self.add_from(mapper(k, v))

    def add_from(self, pairs: Iterable[tuple[Any, Any]]) -> None:
        with encoding_errors(self.label):
            self._write_pairs(pairs)

    def _write_pairs(self, pairs: Iterable[tuple[Any, Any]]) -> None:
        dumps = codec.dumps_text
        n = 0
        try:
            if self.run is not None:
                write, ek, ev = self.run.write, codec.encode_key, codec.encode_value
                for k, v in pairs:
                    write(ek(k), ev(v))
                    n += 1
                return
            buf = self.buf
            for k, v in pairs:
                line = f"{dumps(k)}\t{dumps(v)}\n"
                buf.append(line)
                self.buf_len += len(line)
                n += 1
                if self.buf_len > MB:
                    self._flush()
        finally:
            self.records += n
            _bump(self.counters, self.name, n)

    def _flush(self) -> None:
        data = codec.output_bytes("".join(self.buf))
        self.f.write(data)
        self.bytes += len(data)
        self.buf.clear()
        self.buf_len = 0

    def close(self) -> None:
        if self.run is not None:
            _, end, _ = self.run.end_segment()
            self.bytes = end
        else:
            self._flush()


# -- shuffle -----------------------------------------------------------------


def run_shuffle(plan: Plan, step: int) -> int:
    """Check every map's manifest and files, total the counters, hand out partitions."""
    work = plan.work_dir
    sp = plan.steps[step]
    M = split_count(plan, step)
    R = sp.reducers
    parts: list[list[dict[str, object]]] = [[] for _ in range(R)]
    part_records = [0] * R
    counters: Counters = {}
    shuffle_bytes = 0
    bad = 0
    for m in range(M):
        tid = TaskId(step, "map", m, M)
        man = read_json(manifest_url(work, step, "map", m), f"manifest of {tid.label}", tid.key)
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
        write_json(layout.partition_url(work, step, r), {"segments": parts[r], "records": part_records[r]})
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


# -- reduce ------------------------------------------------------------------


@_task_gc
def run_reduce(plan: Plan, step: int, index: int, attempt: str, tmpdir: str) -> dict[str, Any]:
    work = plan.work_dir
    sp = plan.steps[step]
    assert sp.reducer is not None
    tid = TaskId(step, "reduce", index, sp.reducers)
    part = read_json(layout.partition_url(work, step, index), f"partition list of {tid.label}", TaskId(step, "shuffle").key)
    segments = [Segment.from_json(s) for s in part["segments"]]
    stream = merge_bounded([_segment_source(s) for s in segments], plan.options.merge_fan_in, tmpdir)
    job = make_job(plan)
    reducer = getattr(job, sp.reducer)
    decode_key = codec.decode_key
    decode_value = codec.decode_key if plan.sort_values else codec.decode_value
    fw: dict[str, int] = {"reduce input records": int(part["records"])}
    last = step == len(plan.steps) - 1
    out_path = layout.data_url(work, step, "reduce", index, attempt, "part" if last else "run")
    current: list[Any] = [None]

    def pairs() -> Iterator[tuple[Any, Any]]:
        groups = 0
        try:
            for kb, group in itertools.groupby(stream, key=itemgetter(0)):
                key = decode_key(kb)
                current[0] = key
                groups += 1
                yield from reducer(key, map(decode_value, map(itemgetter(1), group)))
        finally:
            _bump(fw, "reduce input groups", groups)

    with store.atomic_writer(out_path) as f:
        out = OutputWriter(f, text=last, counters=fw, label=tid.label, name="reduce output records")
        out.add_from(run_user(tid.label, "reducer_init", lambda: hook(job, sp.reducer_init)))
        try:
            out.add_from(pairs())
        except MrargoError:
            raise
        except Exception as e:
            raise user_error(tid.label, "reducer", e, f"key {codec.dumps_text(current[0])}") from e
        out.add_from(run_user(tid.label, "reducer_final", lambda: hook(job, sp.reducer_final)))
        out.close()
    manifest = {
        "task": tid.key,
        "attempt": attempt,
        "path": out_path,
        "records": out.records,
        "bytes": out.bytes,
        "counters": merge_counters({FRAMEWORK: fw}, user_counters(job)),
    }
    write_json(manifest_url(work, step, "reduce", index), manifest)
    return manifest


def _segment_source(seg: Segment) -> Any:
    def records() -> Iterator[list[tuple[bytes, bytes]]]:
        try:
            for read in store.range_reader(seg.path, seg.start, seg.end):
                yield from iter_record_blocks(read, seg.path, seg.producer, seg.records)
        except FileNotFoundError:
            raise CorruptDataError(f"intermediate file {seg.path} is missing (written by {seg.producer})", path=seg.path, producer=seg.producer) from None

    return records


# -- step outputs and commit ---------------------------------------------------


def step_outputs(plan: Plan, step: int) -> list[dict[str, Any]]:
    """The committed outputs of a step, in order: path, records, bytes, task."""
    work = plan.work_dir
    sp = plan.steps[step]
    kind = "map" if sp.map_only else "reduce"
    n = split_count(plan, step) if sp.map_only else sp.reducers
    out = []
    for i in range(n):
        tid = TaskId(step, kind, i, n)
        man = read_json(manifest_url(work, step, kind, i), f"manifest of {tid.label}", tid.key)
        if kind == "map":
            start, end, records = man["segments"][0]
            man = dict(man, records=records, bytes=end)
        out.append({"path": man["path"], "records": man["records"], "bytes": man["bytes"], "task": tid.key, "counters": man["counters"]})
    return out


def bad_record_files(plan: Plan) -> list[tuple[str, str]]:
    """(name, path) of every committed map's skipped-records file (--max-bad-records)."""
    out = []
    for step in range(len(plan.steps)):
        m = split_count(plan, step)
        for i in range(m):
            tid = TaskId(step, "map", i, m)
            man = read_json(manifest_url(plan.work_dir, step, "map", i), f"manifest of {tid.label}", tid.key)
            if man.get("bad_records"):
                out.append((f"{tid.key}.jsonl", str(man["bad_records"])))
    return out


def job_counters(plan: Plan) -> Counters:
    """Totals over every task of every step."""
    total: Counters = {}
    for step, sp in enumerate(plan.steps):
        if not sp.map_only:
            tid = TaskId(step, "shuffle")
            merge_counters(total, read_json(layout.shuffle_url(plan.work_dir, step), f"summary of step {step + 1}", tid.key)["counters"])
        for o in step_outputs(plan, step):
            merge_counters(total, o["counters"])
    return total


def run_commit(plan: Plan, attempt: str, extra: Counters | None = None) -> dict[str, Any]:
    """Publish the last step's outputs as part files, then _SUCCESS last."""
    outputs = step_outputs(plan, len(plan.steps) - 1)
    for o in outputs:
        if not store.exists(o["path"]):
            raise CorruptDataError(f"output file {o['path']} is missing (written by {o['task']})", path=o["path"], producer=o["task"])
    counters = merge_counters(job_counters(plan), extra or {})
    summary = {
        "job": plan.job.class_name,
        "steps": len(plan.steps),
        "parts": len(outputs),
        "output records": sum(int(o["records"]) for o in outputs),
        "output bytes": sum(int(o["bytes"]) for o in outputs),
        "counters": {g: dict(sorted(c.items())) for g, c in sorted(counters.items())},
    }
    bad = bad_record_files(plan)
    if bad:
        summary["bad record files"] = [f"_bad_records/{name}" for name, _ in bad]
    success = json.dumps(summary, indent=2, sort_keys=True).encode() + b"\n"
    dest = plan.output
    store.check_apart(plan.inputs, dest, plan.work_dir)  # again, right before anything is replaced
    if not plan.overwrite and store.output_has_data(dest):
        raise OutputExistsError(f"output {dest} already exists; remove it or pass --overwrite")
    if store.is_local(dest):
        # Stage beside the output and rename once: nothing partial is visible.
        staged = f"{dest}.mrargo-{attempt}"
        store.remove(staged)
        _publish(staged, outputs, bad, success)
        store.replace_dir_local(staged, dest)
    else:
        # Object stores have no rename: parts first, _SUCCESS last.
        if plan.overwrite:
            store.remove(dest)
        _publish(dest, outputs, bad, success)
    return summary


def _publish(root: str, outputs: list[dict[str, Any]], bad: list[tuple[str, str]], success: bytes) -> None:
    for i, o in enumerate(outputs):
        store.copy(o["path"], store.join(root, f"part-{i:05d}"))
    for name, src in bad:
        store.copy(src, store.join(root, "_bad_records", name))
    store.put_bytes(store.join(root, "_SUCCESS"), success)
