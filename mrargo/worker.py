"""`python -m mrargo.worker TASK ...`: the command every Argo pod runs.

    python -m mrargo.worker {split,map,shuffle,reduce,commit,cleanup}
        --values DIR --run NAME --bundle SHA256 [--step N] [--index I]
        [--outputs DIR] [--scratch DIR] [--overwrite] [--status PHASE]

The job's plan and sources (the bundle, plan/bundle.py) reach the split
task in ``$MRARGO_BUNDLE``; it stages them in the run's work folder, and
every other task fetches them from there, checked against ``--bundle``.
The run-time strings -- input URLs, output, work root and job params,
which users may set at submit time -- come as *files* in ``--values``
(Argo raw input artifacts), because a file is the one place where
Kubernetes does not expand ``$(VAR)``.  The work folder is
``{work-root}/{run}``: every task of one workflow run shares it.

Exit codes are mrargo's (errors.py): 0 done; 3 fails the same way every
time (job code raised, bad input, a damaged spec), which the retry
expression does not retry; 1 anything else (retried).  The last line on
stderr, and the termination message, is a one-line error.

This module sits on the pod's start-up path: it imports no hera, no
kubernetes client and no CLI module.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import sys
import traceback
from collections.abc import Sequence
from typing import Any, NoReturn

from mrargo import store
from mrargo.argo import checks
from mrargo.argo import contract as c
from mrargo.errors import EXIT_DETERMINISTIC, EXIT_FAILED, MrargoError, OutputExistsError, PlanError, UsageError, UserCodeError, exit_now
from mrargo.plan import bundle as bundle_mod
from mrargo.plan.model import Binding, JobPlan
from mrargo.runtime import commit, reduceside, tasks
from mrargo.runtime.layout import new_attempt

RUN_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
DIGEST = re.compile(r"^[0-9a-f]{64}$")
# What replaces an existing output in a spec: the error already says "choose another output".
OVERWRITE_HINT = "compile with --overwrite to replace it"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # Arguments come from the spec, not from a person: a bad one is a
        # damaged spec, which fails the same way on every attempt.
        _report(f"mrargo worker: the spec's arguments are wrong ({message}); recompile the job with this mrargo")
        sys.exit(EXIT_DETERMINISTIC)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = _Parser(prog="python -m mrargo.worker", description="Run one mrargo task inside an Argo pod.")
    p.add_argument("task", choices=c.TASKS)
    p.add_argument("--values", required=True, metavar="DIR", help="folder of run-time values, one file each")
    p.add_argument("--run", required=True, metavar="NAME", help="the workflow run's name (its work folder)")
    p.add_argument("--bundle", required=True, metavar="SHA256", help="digest of the job bundle")
    p.add_argument("--step", type=int, default=1, metavar="N", help="1-based step number")
    p.add_argument("--index", type=int, default=0, metavar="I", help="0-based map or reduce index")
    p.add_argument("--outputs", default=os.path.join(_tmp(), "outputs"), metavar="DIR", help="where output parameters are written")
    p.add_argument("--scratch", default=_tmp(), metavar="DIR", help="writable scratch folder")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument("--status", default="", metavar="PHASE", help="cleanup: the workflow's phase ({{workflow.status}})")
    return p.parse_args(argv)


def _tmp() -> str:
    return os.environ.get("TMPDIR") or "/tmp"


# -- run-time values ------------------------------------------------------------------------------


def read_values(folder: str) -> dict[str, str]:
    """Every value file the template gave this task; Argo syntax that survived substitution is refused."""
    out: dict[str, str] = {}
    try:
        names = sorted(os.listdir(folder))
    except OSError as e:
        raise PlanError(f"run-time values folder {folder} is missing ({e.strerror}); the workflow spec is damaged, recompile it") from None
    for name in names:
        with open(os.path.join(folder, name), encoding="utf-8") as f:
            out[name] = checks.check_inert(f"parameter {name!r}", f.read(), lines=True, error=PlanError)
    return out


def binding_of(values: dict[str, str], run: str, overwrite: bool) -> Binding:
    """This run's binding from the values this task got; a task that reads no input has none."""
    work_root = values.get(c.PARAM_WORK_ROOT, "").strip()
    if not work_root:
        raise PlanError("parameter 'work-root' is empty; pass -p work-root=s3://bucket/prefix")
    inputs = tuple(store.normalize(line.strip()) for line in values.get(c.PARAM_INPUT, "").splitlines() if line.strip())
    output = values.get(c.PARAM_OUTPUT, "").strip()
    if c.PARAM_INPUT in values and not inputs:
        raise PlanError("parameter 'input' is empty; pass -p input=s3://bucket/prefix")
    if c.PARAM_OUTPUT in values and not output:
        raise PlanError("parameter 'output' is empty; pass -p output=s3://bucket/prefix")
    params = tuple(sorted((k[len(c.PARAM_PREFIX) :], v) for k, v in values.items() if k.startswith(c.PARAM_PREFIX)))
    binding = Binding(
        inputs=inputs,
        output=store.normalize(output) if output else "",
        work_dir=store.join(store.normalize(work_root), run),
        params=params,
        overwrite=overwrite,
    )
    if binding.inputs and binding.output:
        store.check_apart(binding.inputs, binding.output, binding.work_dir)
    return binding


# -- the bundle ----------------------------------------------------------------------------------


def load_bundle(args: argparse.Namespace, run: Binding) -> tuple[JobPlan, str]:
    """The plan (loading the job from its sources) and the job's folder.

    The split task stages the bundle from its environment into the work
    folder; the others fetch it.  Either way it must match the digest the
    spec was compiled with.
    """
    if not DIGEST.match(args.bundle):
        raise PlanError(f"--bundle {args.bundle!r} is not a SHA-256 digest; recompile the job with this mrargo")
    url = store.join(run.work_dir, c.BUNDLE_FILE)
    if args.task == "split":
        text = os.environ.get(c.BUNDLE_ENV, "")
        if not text:
            raise PlanError(f"${c.BUNDLE_ENV} is not set; the pod was not started from a spec mrargo compiled")
        _check_digest(text, args.bundle, f"${c.BUNDLE_ENV}")
        if not store.exists(url) or store.get_bytes(url) != text.encode("ascii"):
            store.put_bytes(url, text.encode("ascii"))
    else:
        try:
            text = store.get_bytes(url).decode("ascii", "replace")
        except FileNotFoundError:
            raise MrargoError(f"the job bundle {url} is missing: the split task stages it; was the run's work folder removed?") from None
        _check_digest(text, args.bundle, url)
    bundle = bundle_mod.decode(text)
    return bundle_mod.install(bundle, os.path.join(args.scratch, "mrargo-job"))


def _check_digest(text: str, want: str, where: str) -> None:
    got = hashlib.sha256(text.encode("ascii", "replace")).hexdigest()
    if got != want:
        raise PlanError(f"the job bundle in {where} has digest {got[:12]}…, not the {want[:12]}… this spec was compiled with; recompile it")


# -- tasks ---------------------------------------------------------------------------------------


def run_task(args: argparse.Namespace, plan: JobPlan, run: Binding, keep: list[Any] | None = None) -> None:
    step = args.step - 1
    if not 0 <= step < len(plan.steps):
        raise PlanError(f"--step {args.step} is out of range: the job has {len(plan.steps)} steps")
    tmp = os.path.join(args.scratch, "mrargo-task")
    os.makedirs(tmp, exist_ok=True)
    try:
        if args.task == "split":
            _write_output(args.outputs, c.OUT_COUNT, str(tasks.run_split(plan, run, step)))
        elif args.task == "map":
            tasks.run_map(plan, run, step, args.index, new_attempt(), tmp, keep)
        elif args.task == "shuffle":
            if plan.steps[step].map_only:
                raise PlanError(f"step {args.step} is map-only; it has no shuffle")
            _write_output(args.outputs, c.OUT_COUNT, str(tasks.run_shuffle(plan, run, step)))
        elif args.task == "reduce":
            reduceside.run_reduce(plan, run, step, args.index, new_attempt(), tmp)
        elif args.task == "commit":
            summary = commit.run_commit(plan, run, new_attempt())
            _write_output(args.outputs, c.OUT_COUNTERS, json.dumps(summary["counters"], sort_keys=True))
            _write_output(args.outputs, c.OUT_RECORDS, str(summary["output records"]))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def cleanup(args: argparse.Namespace, run: Binding) -> None:
    """The exit handler: remove the run's folder after a success; keep it after a failure, for `argo retry`."""
    if args.status == "Succeeded":
        store.remove(run.work_dir)
    else:
        print(f"mrargo worker: the run ended {args.status or 'without a status'}; its work folder {run.work_dir} is kept "
              "for argo retry (a bucket lifecycle rule removes old ones)", file=sys.stderr)  # fmt: skip


def _write_output(folder: str, name: str, value: str) -> None:
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "w", encoding="utf-8") as f:
        f.write(value)


def _progress(text: str) -> None:
    """Argo reads N/M from $ARGO_PROGRESS_FILE to draw the node's progress."""
    path = os.environ.get(c.PROGRESS_ENV)
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
        with open(os.environ.get(c.TERMINATION_ENV, c.TERMINATION_LOG), "w", encoding="utf-8") as f:
            f.write(line[:4000])
    except OSError:
        pass


def main(argv: Sequence[str] | None = None, keep: list[Any] | None = None) -> int:
    """Run one task of a pod; ``keep`` (see tasks.run_map) only when the process then ends with exit_now."""
    args = parse_args(argv)
    label = f"{args.task} {args.index + 1} of step {args.step}" if args.task in ("map", "reduce") else args.task
    if not RUN_NAME.match(args.run):
        _report(f"mrargo worker: --run {args.run!r} is not a workflow name (lowercase letters, digits, '-', '.')")
        return EXIT_DETERMINISTIC
    try:
        run = binding_of(read_values(args.values), args.run, args.overwrite)
        if args.task == "cleanup":
            cleanup(args, run)
            return 0
        plan, job_dir = load_bundle(args, run)
        # Tasks open side files (FILES) by name, relative to the job's folder.
        os.chdir(job_dir)
        _progress("0/1")
        run_task(args, plan, run, keep)
        _progress("1/1")
        return 0
    except UserCodeError as e:
        if e.user_traceback:
            sys.stderr.write(e.user_traceback if e.user_traceback.endswith("\n") else e.user_traceback + "\n")
        # The message already names the task ("map 4/40 of step 1").
        _report(f"mrargo worker: error in job code: {e}")
        return e.exit_code
    except OutputExistsError as e:
        _report(f"mrargo worker: {label}: error: {OutputExistsError(e.url, OVERWRITE_HINT)}")
        return e.exit_code
    except UsageError as e:  # a value the spec carries, not a command line a person typed
        _report(_line(label, e))
        return EXIT_DETERMINISTIC
    except MrargoError as e:
        _report(_line(label, e))
        return e.exit_code
    except Exception as e:  # infrastructure: network, storage; retried by Argo
        traceback.print_exc(file=sys.stderr)
        _report(f"mrargo worker: {label}: error: {type(e).__name__}: {e}")
        return EXIT_FAILED


def _line(label: str, e: Exception) -> str:
    """The one-line error; the task is named once (runtime messages already start with it: "map 1/4 of step 1: ...")."""
    text = str(e)
    task = label.split(" ", 1)[0]
    named = text.startswith(f"{task} ") and " of step " in text.split(":", 1)[0]
    return f"mrargo worker: error: {text}" if named else f"mrargo worker: {label}: error: {text}"


if __name__ == "__main__":
    # Tearing down the modules a pod loads (fsspec, s3fs, aiohttp and their
    # event loop) cost about 45 ms of CPU a task.
    kept: list[Any] = []  # the task's buffers: the exit frees them at once
    exit_now(main(keep=kept))
