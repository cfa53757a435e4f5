"""`mrargo run SPEC.yaml`: run a compiled Argo spec on this machine, as Argo would.

The spec itself runs, not the job behind it: the DAG with its
``dependencies``, ``withSequence`` and ``withParam`` fan-outs, parameters
substituted as Argo does, raw input artifacts written to files, output
parameters read back, ``retryStrategy`` (limit, backoff, policy and the
exit-code expression mrargo emits), ``activeDeadlineSeconds`` and the exit
handler.  Each pod is a local process running the container's
command, args and env.  Only the subset of Argo that mrargo compile emits
is run; anything else is refused with an error naming the field.

The parts: emulate_spec (read and check the spec), emulate_expr (the
template language), emulate_pod (one pod as a process), emulate_dag (the
scheduler), emulate_tree (the node tree, printed as ``argo get`` does).

Storage: the work root, where mrargo's tasks keep intermediate data, maps
to ``--store`` (default: a temporary folder) unless ``-p work-root=`` is
given, so a committed spec with an s3:// default runs on a laptop.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mrargo.errors import MrargoError

if TYPE_CHECKING:
    from mrargo.emulate_dag import SpecOptions
    from mrargo.emulate_expr import SpecError
    from mrargo.emulate_spec import Spec
    from mrargo.emulate_tree import NodeTree

__all__ = ["NodeTree", "SpecError", "SpecOptions", "add_spec_arguments", "is_spec", "main", "run_spec", "run_spec_from_args"]

SPEC_SUFFIXES = (".yaml", ".yml")
WORK_ROOT = "work-root"  # the parameter argo_spec.value_names declares for intermediate data
# `mrargo run` flags that shape a plan; a compiled spec fixed them already.
_JOB_ONLY = {
    "reducers": "pass --reducers to mrargo compile",
    "retries": "the spec's retryStrategy decides; compile with --retries N",
    "overwrite": "pass --overwrite to mrargo compile",
    "work_dir": "use --store URL or -p work-root=URL",
    "keep_intermediate": "compile with --keep-intermediate",
    "sort_buffer_mb": "pass --sort-buffer-mb to mrargo compile",
    "split_mb": "pass --split-mb to mrargo compile",
    "max_record_mb": "the compiled plan fixed it",
    "max_bad_records": "the compiled plan fixed it",
    "decode_errors": "the compiled plan fixed it",
}


def __getattr__(name: str) -> Any:
    """SpecOptions, NodeTree and SpecError, imported on first use.

    cli.py builds the `run` parser (add_spec_arguments) for every command,
    so importing this module must cost nothing; the emulator loads only
    when a spec runs.
    """
    if name == "SpecOptions":
        from mrargo.emulate_dag import SpecOptions

        return SpecOptions
    if name == "NodeTree":
        from mrargo.emulate_tree import NodeTree

        return NodeTree
    if name == "SpecError":
        from mrargo.emulate_expr import SpecError

        return SpecError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def is_spec(job: str) -> bool:
    """True when `mrargo run JOB` names a compiled spec rather than a job file."""
    return job.lower().endswith(SPEC_SUFFIXES)


def add_spec_arguments(p: argparse.ArgumentParser) -> None:
    """The `mrargo run` options that only apply to a compiled spec."""
    p.add_argument(
        "-p", "--parameter", action="append", default=[], metavar="NAME=VALUE",
        help="with a compiled spec: set a workflow parameter, as argo submit -p does (repeatable)",
    )  # fmt: skip
    p.add_argument(
        "--store", metavar="URL",
        help="with a compiled spec: where the work root (intermediate data) goes, unless -p work-root= is given "
        "(default: a temporary folder)",
    )  # fmt: skip
    p.add_argument("--no-backoff", action="store_true", help="with a compiled spec: retry at once instead of waiting retryStrategy.backoff")
    p.set_defaults(spec_parser=p)


def read_spec(path: str) -> dict[str, Any]:
    import yaml

    from mrargo.emulate_expr import SpecError

    try:
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
    except OSError as e:
        raise SpecError(f"cannot read spec {path}: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise SpecError(f"spec {path} is not one YAML document: {str(e).splitlines()[0]}") from None
    if not isinstance(doc, dict):
        raise SpecError(f"spec {path} is not a YAML mapping; pass a file written by mrargo compile")
    return doc


def run_spec(doc: dict[str, Any], params: dict[str, str], opts: SpecOptions) -> NodeTree:
    """Run a compiled spec with these workflow parameters; a failed run returns a failed tree."""
    from mrargo.emulate_dag import execute
    from mrargo.emulate_spec import load_spec

    return execute(load_spec(doc), params, opts)


def _absolute_local_paths(params: dict[str, str]) -> dict[str, str]:
    """Local paths given with -p are relative to where mrargo runs, not to a pod's folder."""
    from mrargo import store

    out = dict(params)
    for name in ("input", "output", WORK_ROOT):
        if name in out and out[name].strip():
            lines = [ln.strip() for ln in out[name].splitlines() if ln.strip()]
            out[name] = "\n".join(store.normalize(ln) if store.is_local(ln) else ln for ln in lines)
    return out


def run_spec_from_args(args: argparse.Namespace) -> int:
    """`mrargo run SPEC.yaml ...`: run it, print the node tree, raise on failure."""
    from mrargo import store
    from mrargo.emulate_dag import SpecOptions, execute
    from mrargo.emulate_expr import SpecError
    from mrargo.emulate_spec import load_spec
    from mrargo.errors import TaskFailedError, UserCodeError

    _refuse_job_only_flags(args)
    spec = load_spec(read_spec(args.job))
    params = _absolute_local_paths(spec_parameters(spec, args))
    quiet = bool(getattr(args, "quiet", False))
    opts = SpecOptions(
        workers=getattr(args, "workers", None) or (os.cpu_count() or 1),
        timeout=getattr(args, "timeout", None),
        backoff=not getattr(args, "no_backoff", False),
        progress=not quiet,
    )
    given = getattr(args, "store", None)
    if given and WORK_ROOT in params:
        raise SpecError(f"--store and -p {WORK_ROOT}= both say where the work root goes; pass one of them")
    if given and not any(p.name == WORK_ROOT for p in spec.parameters):
        raise SpecError(f"--store: the spec has no {WORK_ROOT!r} parameter, so nothing maps to the store; recompile it with mrargo")
    made = ""
    if any(p.name == WORK_ROOT for p in spec.parameters) and WORK_ROOT not in params:
        made = "" if given else tempfile.mkdtemp(prefix="mrargo-store-")
        params[WORK_ROOT] = store.normalize(given or made)
    try:
        tree = execute(spec, params, opts)
    finally:
        if made:
            _remove_if_empty(made)
    if not quiet:
        sys.stderr.write(tree.render(utf8=_utf8(sys.stderr)))
        for log in tree.kept_logs():
            print(f"log of failed pod: {log}", file=sys.stderr)
        if made and os.path.isdir(made):
            print(f"intermediate data kept in {made}", file=sys.stderr)
    if tree.phase != "Succeeded":
        pod = tree.failed_pod()
        err = UserCodeError if pod is not None and pod.exit_code == UserCodeError.exit_code else TaskFailedError
        raise err(tree.error_line())
    return 0


def spec_parameters(spec: Spec, args: argparse.Namespace) -> dict[str, str]:
    """-p NAME=VALUE, plus -i/-o/--param as shorthands for input, output and param-NAME."""
    from mrargo.emulate_expr import SpecError

    params: dict[str, str] = {}
    for text in getattr(args, "parameter", None) or []:
        name, eq, value = text.partition("=")
        if not eq or not name:
            raise SpecError(f"-p {text!r} must look like NAME=VALUE, e.g. -p output=/tmp/out")
        params[name] = value
    short: dict[str, tuple[str, str]] = {}  # parameter -> (flag, value)
    if getattr(args, "input", None):
        short["input"] = ("-i", "\n".join(args.input))  # one URL per line, as mrargo compile writes the default
    if getattr(args, "output", None):
        short["output"] = ("-o", args.output)
    for text in getattr(args, "param", None) or []:
        k, eq, v = text.partition("=")
        if not eq:
            raise SpecError(f"--param {text!r} must look like K=V")
        short[f"param-{k}"] = ("--param", v)
    declared = {p.name for p in spec.parameters}
    for name, (flag, value) in short.items():
        if name in params:
            raise SpecError(f"{flag} and -p {name}= both set parameter {name!r}; keep one")
        if name not in declared:
            raise SpecError(f"{flag}: the spec has no parameter {name!r}; it declares {', '.join(sorted(declared))}")
        params[name] = value
    return params


def _refuse_job_only_flags(args: argparse.Namespace) -> None:
    from mrargo.emulate_expr import SpecError

    parser = getattr(args, "spec_parser", None)
    if parser is None:
        return
    for dest, fix in _JOB_ONLY.items():
        if hasattr(args, dest) and getattr(args, dest) != parser.get_default(dest):
            raise SpecError(f"--{dest.replace('_', '-')} does not apply to a compiled spec, which fixed it at compile time; {fix}")


def _remove_if_empty(path: str) -> None:
    """The default store holds only the run's work folder, which the exit handler removes."""
    for here, dirs, files in os.walk(path, topdown=False):
        if files:
            return
        for d in dirs:
            os.rmdir(os.path.join(here, d))
    os.rmdir(path)


def _utf8(stream: Any) -> bool:
    return "utf" in (getattr(stream, "encoding", "") or "").lower()


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m mrargo.emulate SPEC.yaml ...`: the same as `mrargo run SPEC.yaml ...`."""
    p = argparse.ArgumentParser(prog="python -m mrargo.emulate", description="Run a compiled mrargo spec locally, as Argo would.")
    p.add_argument("job", metavar="SPEC", help="a Workflow, WorkflowTemplate or CronWorkflow written by mrargo compile")
    p.add_argument("-i", "--input", action="append", default=[], metavar="URL", help="shorthand for -p input=URL (repeatable)")
    p.add_argument("-o", "--output", metavar="URL", help="shorthand for -p output=URL")
    p.add_argument("--param", action="append", default=[], metavar="K=V", help="shorthand for -p param-K=V")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, metavar="N", help="pods at once (default: %(default)s)")
    p.add_argument("--timeout", type=float, metavar="SECONDS", help="stop a pod attempt that runs longer")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress or node tree")
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    add_spec_arguments(p)
    args = p.parse_args(argv)
    try:
        return run_spec_from_args(args)
    except MrargoError as e:
        if args.debug:
            import traceback

            traceback.print_exception(e, file=sys.stderr)
        print(f"mrargo: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("mrargo: interrupted; the pods were stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
