"""`python -m mrargo.worker TASK ...`: the command every Argo pod runs.

    python -m mrargo.worker {split,map,shuffle,reduce,commit,cleanup}
        --values DIR --run NAME [--step N] [--index I] [--outputs DIR] [--scratch DIR]

The job's plan and sources come from ``$MRARGO_BUNDLE`` (base64, see
bundle.py).  The run-time strings -- input URLs, output, work root and job
params, which users may set at submit time -- come as *files* in ``--values``
(Argo raw input artifacts), because a file is the one place where
Kubernetes does not expand ``$(VAR)``.  The work directory is
``{work-root}/{run}``: every task of one workflow run shares it, and the
exit handler removes it.

Exit codes: 0 done; 3 the job's own code raised (a deterministic bug, which
the retry policy does not retry); 1 anything else (retried).  The last line
on stderr is a one-line error.

This module sits on the pod's start-up path: it imports no hera, no
kubernetes client and no CLI module.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, replace

from mrargo import bundle as bundle_mod
from mrargo import store
from mrargo.errors import DETERMINISTIC, MrargoError, UserCodeError
from mrargo.plan import Plan
from mrargo.runtime import tasks
from mrargo.runtime.layout import new_attempt

TASKS = ("split", "map", "shuffle", "reduce", "commit", "cleanup")
BUNDLE_ENV = "MRARGO_BUNDLE"
RUN_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


@dataclass(frozen=True)
class Values:
    """The run-time strings of one run, read from files."""

    inputs: tuple[str, ...]
    output: str
    work_root: str
    params: tuple[tuple[str, str], ...]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m mrargo.worker", description="Run one mrargo task inside an Argo pod.")
    p.add_argument("task", choices=TASKS)
    p.add_argument("--values", required=True, metavar="DIR", help="folder of run-time values, one file each")
    p.add_argument("--run", required=True, metavar="NAME", help="the workflow run's name (its work-dir prefix)")
    p.add_argument("--step", type=int, default=1, metavar="N", help="1-based step number")
    p.add_argument("--index", type=int, default=0, metavar="I", help="0-based map or reduce index")
    p.add_argument("--outputs", default=os.path.join(_tmp(), "outputs"), metavar="DIR", help="where output parameters are written")
    p.add_argument("--scratch", default=_tmp(), metavar="DIR", help="writable scratch folder")
    return p.parse_args(argv)


def _tmp() -> str:
    return os.environ.get("TMPDIR") or "/tmp"


def read_value(values_dir: str, name: str) -> str:
    """One run-time value; Argo syntax that survived substitution is refused."""
    path = os.path.join(values_dir, name)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise MrargoError(
            f"run-time value {name!r} is missing ({path}: {e.strerror}); the workflow spec is damaged, recompile it"
        ) from None
    if "{{" in text:
        raise MrargoError(
            f"parameter {name!r} contains '{{{{': Argo substitutes '{{{{...}}}}' and has no escape for it; remove it from the value"
        )
    return text


def read_values(values_dir: str, plan: Plan) -> Values:
    inputs = tuple(line.strip() for line in read_value(values_dir, "input").splitlines() if line.strip())
    output = read_value(values_dir, "output").strip()
    work_root = read_value(values_dir, "work-root").strip()
    params = tuple((k, read_value(values_dir, f"param-{k}")) for k, _ in plan.params)
    return Values(inputs, output, work_root, params)


def load_plan(args: argparse.Namespace) -> tuple[Plan, str]:
    """The plan with this run's values, and the folder the job's files live in."""
    text = os.environ.get(BUNDLE_ENV, "")
    if not text:
        raise MrargoError(f"${BUNDLE_ENV} is not set; the pod was not started from a compiled mrargo spec")
    if not RUN_NAME.match(args.run):
        raise MrargoError(f"--run {args.run!r} is not a workflow name (lowercase letters, digits, '-', '.')")
    bundle = bundle_mod.decode(text)
    plan, job_dir = bundle_mod.install(bundle, os.path.join(args.scratch, "mrargo-job"))
    v = read_values(args.values, plan)
    if not v.output:
        raise MrargoError("parameter 'output' is empty; pass -p output=s3://bucket/prefix")
    if not v.inputs:
        raise MrargoError("parameter 'input' is empty; pass -p input=s3://bucket/prefix")
    if not v.work_root:
        # Compiled without -o: the same sibling of the output compile would choose.
        v = replace(v, work_root=bundle_mod.default_work_root(v.output))
    plan = plan.with_(
        inputs=tuple(store.normalize(i) for i in v.inputs),
        output=store.normalize(v.output) if v.output else "",
        work_dir=store.join(store.normalize(v.work_root), args.run),
        params=v.params,
    )
    store.check_apart(plan.inputs, plan.output, plan.work_dir)
    if not 1 <= args.step <= len(plan.steps):
        raise MrargoError(f"--step {args.step} is out of range: the job has {len(plan.steps)} steps")
    return plan, job_dir


def run_task(args: argparse.Namespace, plan: Plan) -> None:
    step = args.step - 1
    tmp = os.path.join(args.scratch, "mrargo-task")
    os.makedirs(tmp, exist_ok=True)
    try:
        if args.task == "split":
            _write_output(args.outputs, "count", str(tasks.run_split(plan, step)))
        elif args.task == "map":
            tasks.run_map(plan, step, args.index, new_attempt(), tmp)
        elif args.task == "shuffle":
            if plan.steps[step].map_only:
                raise MrargoError(f"step {args.step} is map-only; it has no shuffle")
            _write_output(args.outputs, "count", str(tasks.run_shuffle(plan, step)))
        elif args.task == "reduce":
            tasks.run_reduce(plan, step, args.index, new_attempt(), tmp)
        elif args.task == "commit":
            summary = tasks.run_commit(plan, new_attempt())
            _write_output(args.outputs, "counters", json.dumps(summary["counters"], sort_keys=True))
            _write_output(args.outputs, "records", str(summary["output records"]))
        else:
            store.remove(plan.work_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _write_output(folder: str, name: str, value: str) -> None:
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "w", encoding="utf-8") as f:
        f.write(value)


def _progress(text: str) -> None:
    """Argo reads N/M from $ARGO_PROGRESS_FILE to draw the node's progress."""
    path = os.environ.get("ARGO_PROGRESS_FILE")
    if not path:
        return
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    except OSError:
        pass  # progress is a nicety; never fail a task over it


def _report(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
    # Kubernetes shows the termination message in the pod status, and Argo
    # copies it into the node's message in the UI.
    try:
        # Kubernetes' default terminationMessagePath; `mrargo run SPEC.yaml`
        # gives each local pod its own.
        with open(os.environ.get("MRARGO_TERMINATION_LOG", "/dev/termination-log"), "w", encoding="utf-8") as f:
            f.write(line[:4000])
    except OSError:
        pass


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    label = f"{args.task} {args.index + 1} of step {args.step}" if args.task in ("map", "reduce") else args.task
    try:
        plan, job_dir = load_plan(args)
        # Tasks open side files (FILES) by name, relative to the job's folder.
        os.chdir(job_dir)
        _progress("0/1")
        run_task(args, plan)
        _progress("1/1")
        return 0
    except UserCodeError as e:
        if e.user_traceback:
            sys.stderr.write(e.user_traceback if e.user_traceback.endswith("\n") else e.user_traceback + "\n")
        # The message already names the task ("map 4/40 of step 1").
        _report(f"mrargo worker: error in job code: {e}")
        return UserCodeError.exit_code
    except DETERMINISTIC as e:
        # Bad input or a bad plan fails the same way on every attempt: exit
        # 3, like a bug in job code, so the retry expression stops here.
        _report(f"mrargo worker: {label}: error: {e}")
        return UserCodeError.exit_code
    except MrargoError as e:
        _report(f"mrargo worker: {label}: error: {e}")
        return 1
    except Exception as e:  # infrastructure: network, storage; retried by Argo
        traceback.print_exc(file=sys.stderr)
        _report(f"mrargo worker: {label}: error: {type(e).__name__}: {e}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
