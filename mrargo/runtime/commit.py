"""The commit: the last step's outputs become the job's output, atomically, with _SUCCESS last."""

from __future__ import annotations

import json
from typing import Any

from mrargo import store
from mrargo.errors import CorruptDataError, OutputExistsError
from mrargo.plan.model import Binding, JobPlan
from mrargo.runtime import layout
from mrargo.runtime.context import Counters, merge_counters
from mrargo.runtime.layout import FRAMEWORK, TaskId, marker_url, read_json
from mrargo.runtime.tasks import split_count, step_outputs

COMMITTING = "_COMMITTING"  # names the run whose commit is under way (object stores)


def bad_record_files(plan: JobPlan, run: Binding) -> list[tuple[str, str]]:
    """(name, path) of every committed map's skipped-records file (--max-bad-records)."""
    out: list[tuple[str, str]] = []
    if not plan.options.max_bad_records:
        return out  # no map skipped a record: spare a read of every map's marker
    for step in range(len(plan.steps)):
        m = split_count(run, step)
        for i in range(m):
            tid = TaskId(step, "map", i, m)
            man = read_json(marker_url(run.work_dir, step, "map", i), f"commit marker of {tid.label}", tid.key)
            if man.get("bad_records"):
                out.append((f"{tid.key}.jsonl", str(man["bad_records"])))
    return out


def step_counters(plan: JobPlan, run: Binding, last: list[dict[str, Any]] | None = None) -> list[Counters]:
    """Each step's totals over its tasks, in step order; ``last`` is the last step's outputs, if already read."""
    out = []
    for step, sp in enumerate(plan.steps):
        total: Counters = {}
        if not sp.map_only:
            tid = TaskId(step, "shuffle")
            merge_counters(total, read_json(layout.shuffle_url(run.work_dir, step), f"summary of step {step + 1}", tid.key)["counters"])
        outputs = last if last is not None and step == len(plan.steps) - 1 else step_outputs(plan, run, step)
        for o in outputs:
            merge_counters(total, o["counters"])
        out.append(total)
    return out


def run_commit(plan: JobPlan, run: Binding, attempt: str, extra: Counters | None = None) -> dict[str, Any]:
    """Publish the last step's outputs as part files, then _SUCCESS last.

    On an object store (no rename) the parts appear one by one, so a
    ``_COMMITTING`` marker naming this run goes first: a retried commit
    finds its own unfinished output and replaces it, where any other
    existing output is refused.
    """
    outputs = step_outputs(plan, run, len(plan.steps) - 1)
    for o in outputs:
        if not store.exists(o["path"]):
            raise CorruptDataError(f"output file {o['path']} is missing (written by {o['task']})", path=o["path"], producer=o["task"])
    steps = step_counters(plan, run, outputs)
    counters: Counters = {}
    for c in steps:
        merge_counters(counters, c)
    merge_counters(counters, extra or {})
    summary = {
        "job": plan.job.class_name,
        "steps": len(plan.steps),
        "parts": len(outputs),
        "output records": sum(int(o["records"]) for o in outputs),
        "output bytes": sum(int(o["bytes"]) for o in outputs),
        "counters": {g: dict(sorted(c.items())) for g, c in sorted(counters.items())},
        # The job's own counters by step (mrjob's runner.counters() gives them so).
        "step counters": [{g: dict(sorted(c.items())) for g, c in sorted(s.items()) if g != FRAMEWORK} for s in steps],
    }
    bad = bad_record_files(plan, run)
    if bad:
        summary["bad record files"] = [f"_bad_records/{name}" for name, _ in bad]
    success = json.dumps(summary, indent=2, sort_keys=True).encode() + b"\n"
    dest = run.output
    store.check_apart(run.inputs, dest, run.work_dir)  # again, right before anything is replaced
    marker = store.join(dest, COMMITTING)
    ours = not store.is_local(dest) and _marker_of(marker) == run.work_dir
    if not (run.overwrite or ours) and store.output_has_data(dest):
        raise OutputExistsError(dest)
    if store.is_local(dest):
        # Stage beside the output and rename once: nothing partial is visible.
        staged = f"{dest}.mrargo-{attempt}"
        store.remove(staged)
        _publish(staged, outputs, bad, success)
        store.replace_dir_local(staged, dest)
    else:
        # Object stores have no rename: the marker, the parts, _SUCCESS last.
        if run.overwrite or ours:
            store.remove(dest)
        store.put_bytes(marker, run.work_dir.encode())
        _publish(dest, outputs, bad, success)
        store.remove(marker)
    return summary


def _marker_of(url: str) -> str:
    try:
        return store.get_bytes(url).decode("utf-8", "replace")
    except FileNotFoundError:
        return ""


def _publish(root: str, outputs: list[dict[str, Any]], bad: list[tuple[str, str]], success: bytes) -> None:
    for i, o in enumerate(outputs):
        store.copy(o["path"], store.join(root, f"part-{i:05d}"))
    for name, src in bad:
        store.copy(src, store.join(root, "_bad_records", name))
    store.put_bytes(store.join(root, "_SUCCESS"), success)
