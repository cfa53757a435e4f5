"""`mrargo compile JOB`: the job as an Argo Workflow, WorkflowTemplate or CronWorkflow, YAML on stdout."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from mrargo.cli.common import add_debug, add_job_arguments, add_tuning_arguments, tuning_options
from mrargo.errors import MrargoError, UsageError
from mrargo.plan import DEFAULT_RETRIES


def add_parser(sub: Any, full: bool) -> None:
    p = sub.add_parser(
        "compile",
        help="compile a job to an Argo Workflows spec (YAML on stdout)",
        description="Compile a job to an Argo Workflow, WorkflowTemplate or CronWorkflow. YAML goes to stdout.",
    )
    add_debug(p)
    p.set_defaults(func=compile_command, parser=p)
    if full:  # the flags need nothing heavy, but only compile and submit show them
        add_compile_arguments(p)


def _task_quantity(text: str) -> tuple[str, str]:
    task, eq, q = text.partition("=")
    if not eq:
        raise argparse.ArgumentTypeError(f"{text!r} must look like TASK=QUANTITY, e.g. map=2 or reduce=4Gi")
    return task, q


def add_compile_arguments(p: argparse.ArgumentParser) -> None:
    from mrargo.argo import contract
    from mrargo.argo.options import DEFAULT_DEADLINE, DEFAULT_PARALLELISM, PULL_POLICIES, SPEC_KINDS

    add_job_arguments(p, "a job file (path/job.py[:Class]) or module:Class")
    for action in p._actions:  # -i/-o/--param set the defaults of the spec's parameters here
        if action.dest == "input":
            action.help = "default input URL (repeatable); argo submit -p input=... overrides it"
        elif action.dest == "output":
            action.help = "default output URL; argo submit -p output=... overrides it"
        elif action.dest == "param":
            action.help = "job parameter with its default (repeatable); argo submit -p param-K=... overrides it"
    p.add_argument("--work-root", default="", metavar="URL", help="where runs keep intermediate data, a folder per run (default: _mrargo-work beside -o)")
    p.add_argument("--kind", choices=SPEC_KINDS, default="workflow", help="Workflow (argo submit -), WorkflowTemplate or CronWorkflow")
    p.add_argument("--schedule", default="", metavar="CRON", help="cron schedule for --kind cron")
    p.add_argument("--name", default="", metavar="NAME", help="workflow name (default: from the job file)")
    p.add_argument("--namespace", default="", metavar="NS", help="Kubernetes namespace")
    p.add_argument("--image", default="", metavar="IMG", help="the worker image (build one with mrargo image build)")
    p.add_argument("--image-pull-policy", choices=PULL_POLICIES, default="IfNotPresent", help="the pods' imagePullPolicy (default: %(default)s)")
    p.add_argument("--image-has-job", action="store_true", help="the image carries the job (mrargo image build JOB): embed no code in the spec")
    p.add_argument("--artifact-repository", default="", metavar="CONFIGMAP[:KEY]", help="artifactRepositoryRef for Argo's logs and outputs")
    p.add_argument(
        "--service-account", default=contract.DEFAULT_SERVICE_ACCOUNT, metavar="SA",
        help="service account of the pods (default: %(default)s, which mrargo manifests creates)",
    )  # fmt: skip
    p.add_argument("--retries", type=int, default=DEFAULT_RETRIES, metavar="N", help="retries per task for failures that may pass (default: %(default)s)")
    p.add_argument("--timeout", type=int, metavar="SECONDS", help="activeDeadlineSeconds of each task attempt")
    p.add_argument(
        "--deadline", type=int, default=DEFAULT_DEADLINE, metavar="SECONDS",
        help="end the whole run after this long, Pending time included; 0 = never (default: %(default)s, a day)",
    )  # fmt: skip
    p.add_argument("--cpu", action="append", default=[], type=_task_quantity, metavar="TASK=CPU", help="CPU request per task, e.g. map=2")
    p.add_argument("--memory", action="append", default=[], type=_task_quantity, metavar="TASK=MEM", help="memory per task, e.g. reduce=4Gi")
    p.add_argument("--parallelism", type=int, default=DEFAULT_PARALLELISM, metavar="N", help="most pods at once; 0 = no limit (default: %(default)s)")
    p.add_argument("--keep-intermediate", action="store_true", help="never remove the run's work folder")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output (sensible with --kind cron)")
    p.add_argument("--s3-secret", default="", metavar="SECRET", help="Secret with S3 keys, exposed as AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY")
    p.add_argument("--s3-secret-keys", default="accesskey,secretkey", metavar="ACCESS,SECRET", help="key names in --s3-secret (default: %(default)s)")
    p.add_argument("--s3-endpoint", default="", metavar="URL", help="S3 endpoint for MinIO and other S3-compatible stores")
    add_tuning_arguments(p)


def compile_options(args: argparse.Namespace) -> Any:
    from mrargo.argo.options import CompileOptions

    repo = args.artifact_repository
    keys = tuple(args.s3_secret_keys.split(","))
    if len(keys) != 2:
        raise UsageError(f"--s3-secret-keys {args.s3_secret_keys!r} must be two key names, ACCESS,SECRET")
    return CompileOptions(
        kind=args.kind,
        name=args.name,
        namespace=args.namespace,
        schedule=args.schedule,
        image=args.image,
        image_pull_policy=args.image_pull_policy,
        image_has_job=args.image_has_job,
        artifact_repository=tuple(repo.split(":", 1)) if ":" in repo else ((repo, "") if repo else None),
        service_account=args.service_account,
        retries=args.retries,
        timeout=args.timeout,
        deadline=args.deadline,
        cpu=tuple(args.cpu),
        memory=tuple(args.memory),
        parallelism=args.parallelism,
        keep_intermediate=args.keep_intermediate,
        overwrite=args.overwrite,
        s3_secret=args.s3_secret,
        s3_secret_keys=(keys[0], keys[1]),
        s3_endpoint=args.s3_endpoint,
    )


def compile_args(args: argparse.Namespace) -> Any:
    """The CompiledSpec of parsed compile arguments (submit uses it too)."""
    try:
        from mrargo.argo.compiler import compile_workflow
        from mrargo.argo.options import RunDefaults
    except ImportError as e:
        raise MrargoError(f"mrargo compile needs hera: {e}; pip install mrargo") from None
    from mrargo.argo.options import DEFAULT_PARALLELISM, POD_MIN_SPLIT_MB
    from mrargo.plan import build_plan, parse_params

    plan, job_dir = build_plan(args.job, reducers=args.reducers, options=tuning_options(args, parallel=args.parallelism or DEFAULT_PARALLELISM, min_split_mb=POD_MIN_SPLIT_MB))
    defaults = RunDefaults(inputs=tuple(args.input), output=args.output or "", work_root=args.work_root, params=parse_params(args.param))
    return compile_workflow(plan, job_dir, compile_options(args), defaults, command=command_line(args))


def compile_command(args: argparse.Namespace) -> int:
    sys.stdout.write(compile_args(args).to_yaml())
    unset = [name for name, given in (("input", args.input), ("output", args.output)) if not given]
    if unset and args.kind in ("workflow", "cron"):
        # Valid (values can come at submit), but Argo refuses a run without them: say so now.
        values = " ".join(f"-p {name}=URL" for name in unset)
        how = "argo submit - " if args.kind == "workflow" else "argo submit --from cronwf/NAME (its schedule cannot run without them) "
        verb = "have" if len(unset) > 1 else "has"
        sys.stderr.write(f"mrargo compile: note: {' and '.join(unset)} {verb} no default; give them at submit: {how}{values}\n")
    return 0


def command_line(args: argparse.Namespace) -> str:
    """The compile command, rebuilt in a fixed order for the header comment (never ends the comment early)."""
    from mrargo.argo.checks import shell_word

    words = ["mrargo", "compile", args.job]
    for url in args.input:
        words += ["-i", url]
    if args.output:
        words += ["-o", args.output]
    for flag, value in sorted(_flag_values(args)):
        words += [flag] if value is True else [flag, str(value)]
    return " ".join(shell_word(w) for w in words)


_FLAGS = ("reducers", "work_root", "kind", "schedule", "name", "namespace", "image", "image_pull_policy", "image_has_job",
          "artifact_repository", "service_account", "retries", "timeout", "deadline", "parallelism", "keep_intermediate",
          "overwrite", "s3_secret", "s3_secret_keys", "s3_endpoint", "split_mb", "sort_buffer_mb", "max_record_mb",
          "max_bad_records", "decode_errors", "max_tasks")  # fmt: skip


def _flag_values(args: argparse.Namespace) -> list[tuple[str, Any]]:
    """The flags given with a value other than their default."""
    out: list[tuple[str, Any]] = []
    for key in _FLAGS:
        value = getattr(args, key, None)
        default = args.parser.get_default(key) if getattr(args, "parser", None) else None
        if value in (None, "", False) or value == default:
            continue
        out.append(("--" + key.replace("_", "-"), value))
    for key in ("param", "cpu", "memory"):
        for item in getattr(args, key, []):
            out.append((f"--{key}", item if isinstance(item, str) else "=".join(item)))
    return out
