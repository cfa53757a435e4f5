"""Every name, path and exit code that the compiled spec and the pods share, defined once.

The compiler writes these into the spec; the worker (``python -m
mrargo.worker``), the spec runner and the cluster commands read them back.
A rename here changes both sides at once, so a pod never meets a spec that
speaks another dialect.  This module imports nothing but mrargo.errors: the
worker's start-up path includes it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from mrargo.errors import EXIT_DETERMINISTIC, UsageError

# What `mrargo run JOB` reads as a compiled spec rather than a job file.
SPEC_SUFFIXES = (".yaml", ".yml")


def is_spec(job: str) -> bool:
    """True when `mrargo run JOB` names a compiled spec rather than a job file."""
    return job.lower().endswith(SPEC_SUFFIXES)


# -- the worker -----------------------------------------------------------------------------------

WORKER_COMMAND = ("python", "-m", "mrargo.worker")
USER_ID = 10001  # pods run as this uid and gid (runAsNonRoot needs a number)
# Task templates, in DAG order; each is a worker subcommand too.
TASKS = ("split", "map", "shuffle", "reduce", "commit", "cleanup")
FAN_OUT = {"map": "split", "reduce": "shuffle"}  # a fan-out's width is a count this task outputs
ENTRYPOINT = "mapreduce"  # the DAG template

# -- run-time values: workflow parameters, written to files in the pod --------------------------

PARAM_INPUT = "input"
PARAM_OUTPUT = "output"
PARAM_WORK_ROOT = "work-root"
PARAM_PREFIX = "param-"  # a job parameter k is the workflow parameter param-k
# Which values each task reads: a node stores its inputs in the workflow's
# status (once per attempt), so a task gets only what it uses.
TASK_VALUES = {
    "split": (PARAM_INPUT, PARAM_OUTPUT, PARAM_WORK_ROOT),
    "map": (PARAM_WORK_ROOT, PARAM_PREFIX),
    "shuffle": (PARAM_WORK_ROOT,),
    "reduce": (PARAM_WORK_ROOT, PARAM_PREFIX),
    "commit": (PARAM_INPUT, PARAM_OUTPUT, PARAM_WORK_ROOT),
    "cleanup": (PARAM_WORK_ROOT,),
}
# Raw input artifacts land in this folder, an emptyDir of its own: writable
# under readOnlyRootFilesystem, and where Argo's init-less pods (v4.1) can
# put files without creating directories on the root filesystem.
VALUES_DIR = "/mrargo/values"
VALUES_VOLUME = "values"
SCRATCH = "/tmp"  # an emptyDir; the root filesystem is read-only
SCRATCH_VOLUME = "scratch"
OUTPUTS_DIR = "/tmp/outputs"  # output parameters are files here

# -- output parameters ---------------------------------------------------------------------------

OUT_COUNT = "count"  # split: map tasks; shuffle: reduce tasks
OUT_COUNTERS = "counters"  # commit: the job's counters, JSON
OUT_RECORDS = "records"  # commit: output records

# -- the job bundle ------------------------------------------------------------------------------

# The split task carries the bundle (plan and sources) in this variable and
# stages it in the run's work folder; every other task fetches it from
# there and checks it against the digest in its arguments.  Only the split
# pods carry the bundle, so thousands of pending map pods do not each hold
# a copy in etcd.
BUNDLE_ENV = "MRARGO_BUNDLE"
BUNDLE_FILE = "bundle.mrargo"  # in the run's work folder
BAKED_JOB_DIR = "/opt/mrargo/job"  # where an image built with a job keeps it

# -- what pods report ----------------------------------------------------------------------------

TERMINATION_LOG = "/dev/termination-log"  # Kubernetes' default terminationMessagePath
TERMINATION_ENV = "MRARGO_TERMINATION_LOG"  # the spec runner gives each local pod its own
PROGRESS_ENV = "ARGO_PROGRESS_FILE"  # set by Argo's executor
# Exit code 3 is "fails the same way every time" (mrargo.errors): retrying
# burns time and gives the same error.  Everything else (OOMKilled 137, an
# eviction, a deleted pod, a storage hiccup, -1 for a pod that never ran)
# is retried.
RETRY_EXPRESSION = f'lastRetry.exitCode != "{EXIT_DETERMINISTIC}"'

# -- labels --------------------------------------------------------------------------------------

LABEL_PREFIX = "mrargo.io"
DEFAULT_SERVICE_ACCOUNT = "mrargo"  # what `mrargo manifests` creates

# -- Argo's own naming, shared by the spec runner and the cluster commands ------------------------

POD_NAME_FORMAT = "workflows.argoproj.io/pod-name-format"
_MAX_POD_PREFIX = 253 - 10  # Argo: the name limit, less the hash


def task_name(task: str, step: int, steps: int) -> str:
    """The DAG task of ``task`` in ``step`` (0-based): `map` in a one-step job, `map-2` otherwise."""
    if task in ("commit", "cleanup") or steps == 1:
        return task
    return f"{task}-{step + 1}"


def values_of(task: str, params: tuple[str, ...]) -> tuple[str, ...]:
    """The value files ``task`` reads, job parameters expanded to their workflow parameter names."""
    out: list[str] = []
    for v in TASK_VALUES[task]:
        out += [PARAM_PREFIX + p for p in params] if v == PARAM_PREFIX else [v]
    return tuple(out)


def check_parameters(given: Iterable[str], declared: Iterable[str], where: str) -> None:
    """Refuse a ``-p NAME=`` that the spec does not declare, as `argo submit` would not."""
    names = list(declared)
    for name in given:
        if name not in names:
            raise unknown_parameter(f"-p {name}", name, where, names)


def unknown_parameter(flag: str, name: str, where: str, declared: Iterable[str]) -> UsageError:
    """The one error for a value given to a parameter the spec does not declare."""
    return UsageError(f"{flag}: {where} has no parameter {name!r}; it declares {', '.join(sorted(declared)) or 'none'}")


def set_parameters(document: dict[str, Any], params: Mapping[str, str], where: str) -> None:
    """Give the parameters a Workflow declares (``spec.arguments``) these values, as `argo submit -p` does."""
    current = document.setdefault("spec", {}).setdefault("arguments", {}).setdefault("parameters", [])
    check_parameters(params, [str(p.get("name")) for p in current], where)
    for p in current:
        if p.get("name") in params:
            p.pop("valueFrom", None)
            p["value"] = params[p["name"]]


def fnv32a(text: str) -> int:
    h = 0x811C9DC5
    for byte in text.encode("utf-8"):
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


def pod_name(workflow: str, template: str, node_name: str) -> str:
    """The pod Argo makes for a node (workflow/util/pod_name.go, GeneratePodName, v2).

    ``node_name`` is the node's full name (``wf.map(0:0)(1)``); a workflow
    whose entrypoint is itself the pod is named as the workflow.
    """
    if node_name == workflow:
        return workflow
    prefix = f"{workflow}-{template}" if template else workflow
    return f"{prefix[: _MAX_POD_PREFIX - 1]}-{fnv32a(node_name)}"
