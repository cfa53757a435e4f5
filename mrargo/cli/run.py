"""`mrargo run JOB|SPEC.yaml`: a job with the local executor, or a compiled spec as Argo would run it."""

from __future__ import annotations

import argparse
import contextlib
import copy
import os
import sys
from typing import Any

from mrargo.argo.contract import is_spec
from mrargo.cli.common import add_debug, add_job_arguments, add_tuning_arguments, key_value, parameters, refuse, tuning_options
from mrargo.errors import EXIT_DETERMINISTIC, EXIT_FAILED, TaskFailedError, UsageError
from mrargo.plan import DEFAULT_RETRIES

# `mrargo run` flags that shape a plan or a local run; a compiled spec fixed them.
JOB_ONLY = {
    "reducers": "pass --reducers to mrargo compile",
    "retries": "the spec's retryStrategy decides; compile with --retries N",
    "overwrite": "pass --overwrite to mrargo compile",
    "work_dir": "use --store URL or -p work-root=URL",
    "keep_intermediate": "compile with --keep-intermediate",
    "sort_buffer_mb": "pass --sort-buffer-mb to mrargo compile",
    "split_mb": "pass --split-mb to mrargo compile",
    "max_record_mb": "pass --max-record-mb to mrargo compile",
    "max_bad_records": "pass --max-bad-records to mrargo compile",
    "decode_errors": "pass --decode-errors to mrargo compile",
    "max_tasks": "pass --max-tasks to mrargo compile",
}
# And the flags only a compiled spec takes.
SPEC_ONLY = {
    "parameter": "for a job file, give job parameters with --param K=V",
    "store": "for a job file, --work-dir URL says where intermediate data goes",
    "no_backoff": "a job file's retries start at once anyway",
}


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "run",
        help="run a job (or a compiled spec) on this machine",
        description="Run a job locally with a process pool; writes part-NNNNN files, then _SUCCESS. "
        "JOB may also be a spec that mrargo compile wrote (SPEC.yaml): it then runs as Argo would run it.",
    )
    add_job_arguments(p, "a job file (path/job.py[:Class]), module:Class, or a compiled SPEC.yaml")
    add_debug(p)
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, metavar="N", help="parallel tasks (default: %(default)s, the cores)")
    p.add_argument("--retries", type=int, default=DEFAULT_RETRIES, metavar="N", help="retries per failed task (default: %(default)s)")
    p.add_argument("--timeout", type=float, metavar="SECONDS", help="kill and retry a task attempt that runs longer")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument("--work-dir", metavar="URL", help="where intermediate data goes, in a folder of the run's own (default: a temporary folder)")
    p.add_argument("--keep-intermediate", action="store_true", help="keep the work folder after the run")
    add_tuning_arguments(p)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress or summary")
    p.add_argument(
        "-p", "--parameter", action="append", default=[], type=key_value, metavar="NAME=VALUE",
        help="with a compiled spec: set a workflow parameter, as argo submit -p does (repeatable)",
    )  # fmt: skip
    p.add_argument(
        "--store", metavar="URL",
        help="with a compiled spec: where the work root (intermediate data) goes, unless -p work-root= is given (default: a temporary folder)",
    )  # fmt: skip
    p.add_argument("--no-backoff", action="store_true", help="with a compiled spec: retry at once instead of waiting retryStrategy.backoff")
    p.set_defaults(func=run_command, parser=p, table_defaults=_unset_table_defaults(p))


def _unset_table_defaults(p: argparse.ArgumentParser) -> dict[str, Any]:
    """Give the flags of JOB_ONLY and SPEC_ONLY no default, and return their defaults.

    A flag given with its default value (`--retries 2` to a spec compiled
    with --retries 5) is still given, and must be refused as well; with no
    default, `refuse` sees every flag on the command line.  run_command
    puts the defaults back; the help text still shows them.
    """
    defaults = {}
    for a in p._actions:
        if a.dest in JOB_ONLY or a.dest in SPEC_ONLY:
            defaults[a.dest] = a.default
            if a.help:
                a.help = a.help.replace("%(default)s", str(a.default))
            a.default = None
    return defaults


def run_command(args: argparse.Namespace) -> int:
    if is_spec(args.job):
        refuse(args, args.parser, JOB_ONLY, "to a compiled spec, which fixed it at compile time")
    else:
        refuse(args, args.parser, SPEC_ONLY, "to a job file, only to a compiled SPEC.yaml")
    for dest, default in args.table_defaults.items():
        if getattr(args, dest) is None:
            setattr(args, dest, copy.copy(default))  # a fresh [] for -p
    return _run_spec(args) if is_spec(args.job) else _run_job(args)


def _run_job(args: argparse.Namespace) -> int:
    from mrargo import local
    from mrargo.plan import bind, build_plan

    opts = local.LocalOptions(
        workers=args.workers, retries=args.retries, timeout=args.timeout, keep_intermediate=args.keep_intermediate, progress=not args.quiet
    ).check()
    if not args.output:
        raise UsageError("no output given; pass -o PATH")
    plan, job_dir = build_plan(args.job, reducers=args.reducers, options=tuning_options(args, parallel=args.workers))
    binding = bind(args.input, args.output, local.new_work_dir(args.work_dir), params=args.param, overwrite=args.overwrite)
    summary = local.run_plan(plan, binding, opts, job_dir)
    if not args.quiet:
        out = sys.stderr
        print(f"wrote {summary.records} records in {summary.parts} part files to {summary.output}", file=out)
        for group, names in summary.counters.items():
            print(f"  {group}:", file=out)
            for name, n in names.items():
                print(f"    {name}: {n}", file=out)
        if args.keep_intermediate:
            print(f"intermediate data kept in {binding.work_dir}", file=out)
    return 0


def _run_spec(args: argparse.Namespace) -> int:
    from mrargo.specrun import RunSpecOptions, SpecOptions, read_spec, run_spec
    from mrargo.specrun.spec import load_spec

    doc = read_spec(args.job)
    params = spec_parameters(doc, args)
    opts = SpecOptions(workers=args.workers, timeout=args.timeout, backoff=not args.no_backoff, progress=not args.quiet)
    if opts.workers < 1:
        raise UsageError(f"--workers must be at least 1, got {opts.workers}")
    if opts.timeout is not None and not opts.timeout > 0:
        raise UsageError(f"--timeout must be more than 0 seconds, got {opts.timeout:g}")
    load_spec(doc)  # a spec mrargo cannot run fails here, before anything starts
    tree = run_spec(doc, params, RunSpecOptions(scheduler=opts, store=args.store or ""))
    if not args.quiet:
        sys.stderr.write(tree.render(utf8="utf" in (getattr(sys.stderr, "encoding", "") or "").lower()))
        for log in tree.kept_logs():
            print(f"log of failed pod: {log}", file=sys.stderr)
    else:
        _forget_kept_pods(tree.kept_logs())
    if tree.phase != "Succeeded":
        # The pod's own exit code names the cause: 3 fails every time, the rest may pass again.
        pod = tree.failed_pod()
        deterministic = pod is not None and pod.exit_code == EXIT_DETERMINISTIC
        raise TaskFailedError(tree.error_line(), exit_code=EXIT_DETERMINISTIC if deterministic else EXIT_FAILED)
    return 0


def _forget_kept_pods(logs: list[str]) -> None:
    """With -q nobody is told where a failed pod's folder is, so none is kept (nor their temporary parent)."""
    import shutil

    for log in logs:
        pod = os.path.dirname(log)
        shutil.rmtree(pod, ignore_errors=True)
        with contextlib.suppress(OSError):
            os.rmdir(os.path.dirname(pod))  # the run's pods folder, once empty


def spec_parameters(doc: dict[str, Any], args: argparse.Namespace) -> dict[str, str]:
    """-p NAME=VALUE, plus -i/-o/--param as shorthands for input, output and param-NAME."""
    from mrargo.argo import contract

    params = parameters(args.parameter)
    short: dict[str, tuple[str, str]] = {}  # parameter -> (flag, value)
    if args.input:
        short[contract.PARAM_INPUT] = ("-i", "\n".join(args.input))  # one URL per line, as mrargo compile writes the default
    if args.output:
        short[contract.PARAM_OUTPUT] = ("-o", args.output)
    for text in args.param:
        k, eq, v = text.partition("=")
        if not eq:
            raise UsageError(f"--param {text!r} must look like name=value")  # as for a job file
        short[contract.PARAM_PREFIX + k] = ("--param", v)
    body = doc.get("spec") or {}
    if doc.get("kind") == "CronWorkflow":
        body = body.get("workflowSpec") or {}
    declared = [str(p.get("name")) for p in (body.get("arguments") or {}).get("parameters") or []]
    for name, (flag, value) in short.items():
        if name in params:
            raise UsageError(f"{flag} and -p {name}= both set parameter {name!r}; keep one")
        if name not in declared:
            raise contract.unknown_parameter(flag, name, "the spec", declared)
        params[name] = value
    return params
