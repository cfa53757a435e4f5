"""The job bundle: a plan and the job's sources, packed into one base64 string.

`mrargo compile` embeds the bundle in the Workflow so the stock worker image
can run any job; the worker unpacks it into its scratch folder and loads the
job from there.  Base64 is the point: its alphabet has no ``{{`` for Argo and
no ``$(`` for Kubernetes to expand, so the bundle passes through any template
field untouched.  The encoding is deterministic (sorted JSON, gzip with a zero
mtime), so compiling twice gives the same bytes.

This module is on the worker's import path: it imports no hera.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import os
from dataclasses import dataclass, field

from mrargo.errors import JobDefinitionError, PlanError
from mrargo.plan.model import JobPlan, JobRef, shipped_name

BUNDLE_VERSION = 2
# One environment string may be at most 128 KiB on Linux (MAX_ARG_STRLEN);
# stay well under it so the pod always starts.
MAX_BUNDLE_CHARS = 96 * 1024


@dataclass(frozen=True)
class Bundle:
    """A plan plus source files (relative name -> bytes); no sources for baked images."""

    plan: JobPlan
    sources: dict[str, bytes] = field(default_factory=dict)
    job_dir: str = ""  # where a baked image keeps the job, when sources is empty


def encode(bundle: Bundle) -> str:
    doc = {
        "version": BUNDLE_VERSION,
        "plan": json.loads(bundle.plan.to_json()),
        "job_dir": bundle.job_dir,
        "sources": {name: base64.b64encode(data).decode("ascii") for name, data in sorted(bundle.sources.items())},
    }
    raw = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    return base64.b64encode(gzip.compress(raw, compresslevel=9, mtime=0)).decode("ascii")


def decode(text: str) -> Bundle:
    """Unpack a bundle; a damaged or foreign one is a clear error, never a traceback."""
    try:
        doc = json.loads(gzip.decompress(base64.b64decode(text.strip(), validate=True)))
        if doc.get("version") != BUNDLE_VERSION:
            raise PlanError(f"job bundle version {doc.get('version')!r} is not {BUNDLE_VERSION}; recompile the job with this mrargo")
        plan = JobPlan.from_json(json.dumps(doc["plan"]))
        sources = {str(k): base64.b64decode(v) for k, v in doc["sources"].items()}
        return Bundle(plan=plan, sources=sources, job_dir=str(doc.get("job_dir", "")))
    except PlanError:
        raise
    except (OSError, EOFError, ValueError, KeyError, TypeError, AttributeError, binascii.Error) as e:
        raise PlanError(f"the job bundle is damaged ({type(e).__name__}: {e}); recompile the job") from None


def job_sources(plan: JobPlan, job_dir: str) -> dict[str, str]:
    """The job file and its FILES: the name tasks see -> the path here.

    A file is seen under its basename; a folder under its basename too,
    with every file below it at its relative path (``lookup/a.txt``).
    """
    if not plan.job.path:
        raise PlanError(
            f"job {plan.job.module}:{plan.job.class_name} is a module, not a file, so it cannot be shipped; "
            "pass the job as path/job.py, or build an image that installs its package and compile with --image IMG --image-has-job"
        )
    paths = {os.path.basename(plan.job.path): plan.job.path}
    for rel in plan.files:
        top, src = shipped_name(rel), os.path.join(job_dir, rel)  # names are unique: validate_plan
        if os.path.isdir(src):
            for here, dirs, files in os.walk(src):
                dirs.sort()
                for f in sorted(files):
                    full = os.path.join(here, f)
                    paths[top + "/" + os.path.relpath(full, src).replace(os.sep, "/")] = full
        else:
            paths[top] = src
    for path in paths.values():
        if not os.path.isfile(path):
            raise PlanError(f"cannot ship {path}: it does not exist; FILES paths are relative to the job file")
    return dict(sorted(paths.items()))



def collect_sources(plan: JobPlan, job_dir: str) -> dict[str, bytes]:
    """The job file and its FILES, keyed by the name tasks see (the basename)."""
    out: dict[str, bytes] = {}
    for name, path in job_sources(plan, job_dir).items():
        try:
            with open(path, "rb") as f:
                out[name] = f.read()
        except OSError as e:
            raise PlanError(
                f"cannot read {path} to embed it in the workflow: {e.strerror}; FILES paths are relative to the job file"
            ) from None
    return out


def portable_plan(plan: JobPlan) -> JobPlan:
    """The plan with the job path reduced to its file name, so the spec never
    names a folder of the machine that compiled it."""
    ref = plan.job
    path = os.path.basename(ref.path) if ref.path else ""
    return plan.with_(job=JobRef(class_name=ref.class_name, path=path, module=ref.module))


def install(bundle: Bundle, dest: str) -> tuple[JobPlan, str]:
    """Write the sources into ``dest`` and return (plan loading the job from there, job folder).

    With no sources (a baked image) the job is loaded from ``bundle.job_dir``.
    """
    plan = bundle.plan
    if not bundle.sources:
        where = bundle.job_dir or os.getcwd()
        if not plan.job.path:
            return plan, where
        path = os.path.join(where, plan.job.path)
        if not os.path.isfile(path):
            raise JobDefinitionError(
                f"the image carries no job at {path}: build one that does (mrargo image build JOB --tag IMG), "
                "or compile without --image-has-job so the spec carries the job"
            )
        return plan.with_(job=JobRef(plan.job.class_name, path, plan.job.module)), where
    os.makedirs(dest, exist_ok=True)
    for name, data in bundle.sources.items():
        parts = name.split("/")
        if any(p in ("", ".", "..") or "\\" in p for p in parts):
            raise PlanError(f"the job bundle holds an unsafe file name {name!r}; recompile the job")
        path = os.path.join(dest, *parts)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    path = os.path.join(dest, plan.job.path)
    return plan.with_(job=JobRef(plan.job.class_name, path, plan.job.module)), dest
