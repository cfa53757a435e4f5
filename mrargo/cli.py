"""The ``mrargo`` command: parse, call, print.  Errors are one line, exit 1.

``--debug`` shows tracebacks.  Backends are imported only by the commands
that need them, so ``mrargo run`` never loads hera.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import uuid
from collections.abc import Sequence
from typing import Any

from mrargo import emulate
from mrargo.errors import MrargoError, UserCodeError
from mrargo.plan import Options

EPILOG = """examples:
  mrargo run examples/wordcount.py -i 'data/*.txt' -o out/
  mrargo run workflows/wordcount.workflow.yaml -p input=data/ -p output=out/
  mrargo compile examples/wordcount.py -i s3://bucket/in/ -o s3://bucket/out/ | argo submit -
  mrargo manifests --namespace jobs | kubectl apply -f -
  mrargo submit examples/wordcount.py -i s3://bucket/in/ -o s3://bucket/out/ --watch
  mrargo init myjob
"""


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_command_of(argv))
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except MrargoError as e:
        if args.debug:
            _print_traceback(e)
        print(f"mrargo: error: {e}", file=sys.stderr)
        return e.exit_code if isinstance(e, UserCodeError) else 1
    except KeyboardInterrupt:
        print("mrargo: interrupted; nothing was written to the output", file=sys.stderr)
        return 130


def _print_traceback(e: BaseException) -> None:
    import traceback

    tb = getattr(e, "user_traceback", "")
    if tb:
        sys.stderr.write(tb if tb.endswith("\n") else tb + "\n")
    else:
        traceback.print_exception(e, file=sys.stderr)


def _command_of(argv: list[str]) -> str:
    """The subcommand, found before parsing, so only its backend gets imported."""
    return next((a for a in argv if not a.startswith("-")), "")


def build_parser(command: str = "") -> argparse.ArgumentParser:
    """The parser; a backend's own options are added only when its command runs.

    ``mrargo run`` must not pay for importing hera or the kubernetes client.
    """
    parser = argparse.ArgumentParser(
        prog="mrargo",
        description="Run MapReduce jobs written in Python, locally or on Argo Workflows.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_run(sub)
    _add_compile(sub, full=command == "compile")
    _add_dockerfile(sub, full=command == "dockerfile")
    _add_cluster_commands(sub, full=command == "submit")
    return parser


def _add_cluster_commands(sub: Any, full: bool) -> None:
    """manifests, init, submit, status, logs; jinja2 and kubernetes load only when one runs."""
    from mrargo import kube, manifests, scaffold

    commands = [
        ("manifests", "print the RBAC, artifact-repository ConfigMap and optional dev MinIO a cluster needs (YAML on stdout)",
         manifests.add_manifests_arguments, cmd_manifests),
        ("init", "create a new job project: job, test, sample data, Dockerfile, README", scaffold.add_init_arguments, scaffold.init_from_args),
        # submit takes every compile flag, which needs hera: only when it runs.
        ("submit", "submit a job, a compiled spec or a WorkflowTemplate to Argo through the Kubernetes API",
         kube.add_submit_arguments if full else None, kube.submit_from_args),
        ("status", "show a workflow's phase and a progress line per task", kube.add_status_arguments, kube.status_from_args),
        ("logs", "print the pod logs of a workflow's tasks", kube.add_logs_arguments, kube.logs_from_args),
    ]  # fmt: skip
    for name, text, add, func in commands:
        p = sub.add_parser(name, help=text, description=text)
        # SUPPRESS: the subcommand's flag must not reset `mrargo --debug CMD`.
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks on errors")
        if add is not None:
            add(p)
        p.set_defaults(func=func)


def cmd_manifests(args: argparse.Namespace) -> int:
    from mrargo import manifests

    sys.stdout.write(manifests.manifests_from_args(args))
    return 0


def _job_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("job", metavar="JOB", help="a job file (path/job.py[:Class]), module:Class, or a compiled SPEC.yaml")
    p.add_argument("-i", "--input", action="append", default=[], metavar="URL", help="input file, directory, glob or URL (repeatable)")
    p.add_argument("-o", "--output", metavar="URL", help="output directory or URL")
    p.add_argument("--reducers", type=int, metavar="N", help="reducers per step (default: the job's REDUCERS)")
    p.add_argument("--param", action="append", default=[], metavar="K=V", help="job parameter, seen as self.params[K] (repeatable)")


def _add_run(sub: Any) -> None:
    p = sub.add_parser(
        "run",
        help="run a job (or a compiled spec) on this machine",
        description="Run a job locally with a process pool; writes part-NNNNN files, then _SUCCESS. "
        "JOB may also be a spec that mrargo compile wrote (SPEC.yaml): it then runs as Argo would run it.",
    )
    _job_arguments(p)
    # SUPPRESS: the subcommand's flag must not reset `mrargo --debug run`.
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks on errors")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, metavar="N", help="parallel tasks (default: %(default)s, the cores)")
    p.add_argument("--retries", type=int, default=2, metavar="N", help="retries per failed task (default: %(default)s)")
    p.add_argument("--timeout", type=float, metavar="SECONDS", help="kill and retry a task attempt that runs longer")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument("--work-dir", metavar="URL", help="where intermediate data goes (default: a temporary folder)")
    p.add_argument("--keep-intermediate", action="store_true", help="keep the work directory after the run")
    p.add_argument("--sort-buffer-mb", type=int, default=Options.sort_buffer_mb, metavar="MB", help="map-side sort buffer per task (default: %(default)s)")
    p.add_argument("--split-mb", type=int, default=Options.split_mb, metavar="MB", help="target input bytes per map task (default: %(default)s)")
    p.add_argument("--max-record-mb", type=int, default=64, metavar="MB", help="longest input line accepted (default: %(default)s)")
    p.add_argument("--max-bad-records", type=int, default=0, metavar="N", help="skip up to N records whose mapper raises (default: 0)")
    p.add_argument("--decode-errors", choices=("strict", "replace", "skip"), default="strict", help="undecodable UTF-8 (default: strict)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress or summary")
    emulate.add_spec_arguments(p)
    p.set_defaults(func=cmd_run)


def _add_compile(sub: Any, full: bool) -> None:
    p = sub.add_parser(
        "compile",
        help="compile a job to an Argo Workflows spec (YAML on stdout)",
        description="Compile a job to an Argo Workflow, WorkflowTemplate or CronWorkflow. YAML goes to stdout.",
    )
    # SUPPRESS: the subcommand's flag must not reset `mrargo --debug run`.
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks on errors")
    p.set_defaults(func=cmd_compile, compile_parser=p)
    if full:
        from mrargo import argo

        argo.add_compile_arguments(p)


def _add_dockerfile(sub: Any, full: bool) -> None:
    p = sub.add_parser(
        "dockerfile",
        help="print a Dockerfile for the Argo worker image",
        description="Print a Dockerfile for the worker image. With JOB, the job and its FILES are baked in "
        "(build it from the job's folder: mrargo dockerfile JOB | docker build -t IMG -f - FOLDER).",
    )
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks on errors")
    p.set_defaults(func=cmd_dockerfile)
    if full:
        from mrargo import argo

        argo.add_dockerfile_arguments(p)


def cmd_run(args: argparse.Namespace) -> int:
    if emulate.is_spec(args.job):
        # A compiled Workflow or WorkflowTemplate: run the spec itself, as Argo would.
        return emulate.run_spec_from_args(args)
    from mrargo import local, store
    from mrargo.build import build_plan

    if not args.output:
        raise MrargoError("no output given; pass -o PATH")
    plan, job_dir = build_plan(
        args.job,
        inputs=args.input,
        output=args.output,
        # A placeholder until the plan is valid: no folder is made for a job
        # that fails to load.
        work_dir="-",
        reducers=args.reducers,
        params=args.param,
        overwrite=args.overwrite,
        options=dict(
            sort_buffer_mb=args.sort_buffer_mb,
            split_mb=args.split_mb,
            max_record_mb=args.max_record_mb,
            max_bad_records=args.max_bad_records,
            decode_errors=args.decode_errors,
        ),
    )
    if args.workers < 1:
        raise MrargoError(f"--workers must be at least 1, got {args.workers}")
    if args.retries < 0:
        raise MrargoError(f"--retries must be 0 or more, got {args.retries}")
    opts = local.LocalOptions(
        workers=args.workers,
        retries=args.retries,
        timeout=args.timeout,
        keep_intermediate=args.keep_intermediate,
        progress=not args.quiet,
    )
    # The run owns a fresh folder, inside --work-dir if one is given, and
    # removes only that: never the user's folder itself.
    if args.work_dir:
        work_dir = store.join(store.normalize(args.work_dir), f"mrargo-{uuid.uuid4().hex[:12]}")
    else:
        work_dir = tempfile.mkdtemp(prefix="mrargo-work-")
    plan = plan.with_(work_dir=work_dir)
    summary = local.run_plan(plan, opts, job_dir)
    if not args.quiet:
        print_summary(summary, plan.output)
        if args.keep_intermediate:
            print(f"intermediate data kept in {plan.work_dir}", file=sys.stderr)
    return 0


def print_summary(summary: dict[str, Any], output: str) -> None:
    out = sys.stderr
    print(f"wrote {summary['output records']} records in {summary['parts']} part files to {output}", file=out)
    for group, names in summary["counters"].items():
        print(f"  {group}:", file=out)
        for name, n in names.items():
            print(f"    {name}: {n}", file=out)


def cmd_compile(args: argparse.Namespace) -> int:
    try:
        from mrargo import argo
    except ImportError as e:
        raise MrargoError(f"mrargo compile needs hera: {e}; pip install mrargo") from None
    sys.stdout.write(argo.compile_from_args(args))
    return 0


def cmd_dockerfile(args: argparse.Namespace) -> int:
    from mrargo import argo

    sys.stdout.write(argo.dockerfile_from_args(args))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
