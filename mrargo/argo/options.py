"""What a compiled spec is made of besides the job plan: frozen options, checked once.

``CompileOptions`` shape the spec (kind, image, retries, resources...);
``RunDefaults`` are the defaults of the run-time parameters (input,
output, work root, job parameters) that `argo submit -p` may override.
Neither imports hera.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace

from mrargo import __version__
from mrargo.argo import checks
from mrargo.argo import contract as c
from mrargo.errors import UsageError
from mrargo.plan.model import DEFAULT_RETRIES, JobPlan

SPEC_KINDS = ("workflow", "template", "cron")
PULL_POLICIES = ("IfNotPresent", "Always", "Never")
MAX_NAME = {"workflow": 57, "template": 63, "cron": 52}  # generateName adds 5; a cron run adds -<unix time>
DEFAULT_DEADLINE = 24 * 3600
DEFAULT_PARALLELISM = 100
# A pod costs seconds to start where a local task costs a fork: the auto
# split size never goes under this on Argo.
POD_MIN_SPLIT_MB = 8
# The image `mrargo image build` tags by default, and a release publishes.
DEFAULT_IMAGE = f"mrargo/worker:{__version__}"
# Storage schemes the worker image can read: s3fs ships in it.
IMAGE_SCHEMES = ("s3", "s3a")


@dataclass(frozen=True)
class CompileOptions:
    """Everything about the Argo spec that is not in the job plan."""

    kind: str = "workflow"  # workflow | template | cron
    name: str = ""
    namespace: str = ""
    schedule: str = ""
    image: str = ""  # "" = the published image of this mrargo release, when there is one
    image_pull_policy: str = "IfNotPresent"
    image_has_job: bool = False  # the image carries the job at contract.BAKED_JOB_DIR: embed no sources
    artifact_repository: tuple[str, str] | None = None  # (configmap, key)
    service_account: str = c.DEFAULT_SERVICE_ACCOUNT
    retries: int = DEFAULT_RETRIES
    timeout: int | None = None  # activeDeadlineSeconds of each task attempt
    deadline: int = DEFAULT_DEADLINE  # of the whole workflow, Pending time included; 0 = none
    cpu: tuple[tuple[str, str], ...] = ()  # (task, quantity) overrides
    memory: tuple[tuple[str, str], ...] = ()
    parallelism: int = DEFAULT_PARALLELISM  # pods at once; 0 = no limit
    keep_intermediate: bool = False
    overwrite: bool = False
    s3_secret: str = ""
    s3_secret_keys: tuple[str, str] = ("accesskey", "secretkey")
    s3_endpoint: str = ""
    title: str = ""
    description: str = ""


@dataclass(frozen=True)
class RunDefaults:
    """Defaults of the run-time workflow parameters; ``None``/empty means "give it at submit"."""

    inputs: tuple[str, ...] = ()
    output: str = ""
    work_root: str = ""
    params: tuple[tuple[str, str], ...] = ()


def default_name(plan: JobPlan) -> str:
    """A DNS-1123 name from the job file (or class) name: word_count.py -> word-count."""
    stem = os.path.splitext(os.path.basename(plan.job.path))[0] if plan.job.path else plan.job.class_name
    return re.sub(r"[^a-z0-9-]+", "-", stem.lower()).strip("-")[:52].strip("-") or "mrargo-job"


def published_image() -> str:
    """The worker image a release of mrargo published with itself, or "" for a build from source."""
    try:
        from mrargo import _release
    except ImportError:
        return ""
    return str(getattr(_release, "IMAGE", ""))


def check_options(plan: JobPlan, opts: CompileOptions) -> CompileOptions:
    """Every option checked, with the fix named; the defaults that depend on the plan filled in."""
    if opts.kind not in SPEC_KINDS:
        raise UsageError(f"--kind must be one of {', '.join(SPEC_KINDS)}, got {opts.kind!r}")
    name = checks.dns_label("--name", opts.name or default_name(plan), MAX_NAME[opts.kind])
    if opts.namespace:
        checks.dns_label("--namespace", opts.namespace)
    if opts.service_account:
        checks.dns_subdomain("--service-account", opts.service_account)
    if opts.kind == "cron":
        if not opts.schedule:
            raise UsageError("--kind cron needs --schedule, e.g. --schedule '0 3 * * *'")
        checks.cron_schedule(opts.schedule)
    elif opts.schedule:
        raise UsageError("--schedule only applies to --kind cron")
    if opts.artifact_repository:
        checks.dns_subdomain("--artifact-repository ConfigMap", opts.artifact_repository[0])
        if opts.artifact_repository[1]:
            checks.config_key("--artifact-repository key", opts.artifact_repository[1])
    if opts.s3_secret:
        checks.dns_subdomain("--s3-secret", opts.s3_secret)
        for k in opts.s3_secret_keys:
            checks.config_key("--s3-secret-keys", k)
    if opts.s3_endpoint:
        checks.check_inert("--s3-endpoint", opts.s3_endpoint, in_env=True)
        if not re.match(r"^https?://[^\s]+$", opts.s3_endpoint):
            raise UsageError(f"--s3-endpoint {opts.s3_endpoint!r} must be an http(s) URL, e.g. http://minio.argo:9000")
    for what, pairs in (("--cpu", opts.cpu), ("--memory", opts.memory)):
        for task, q in pairs:
            if task not in c.TASKS:
                raise UsageError(f"{what} {task}={q}: the task must be one of {', '.join(c.TASKS)}")
            checks.quantity(f"{what} {task}", q)
    if not 0 <= opts.retries <= 100:
        raise UsageError(f"--retries must be between 0 and 100, got {opts.retries}")
    if opts.timeout is not None and opts.timeout < 1:
        raise UsageError(f"--timeout must be at least 1 second, got {opts.timeout}")
    if opts.deadline < 0:
        raise UsageError(f"--deadline must be 0 (none) or more seconds, got {opts.deadline}")
    if opts.parallelism < 0:
        raise UsageError(f"--parallelism must be 0 (no limit) or more, got {opts.parallelism}")
    if opts.image_pull_policy not in PULL_POLICIES:
        raise UsageError(f"--image-pull-policy must be one of {', '.join(PULL_POLICIES)}, got {opts.image_pull_policy!r}")
    if opts.image_has_job and not opts.image:
        raise UsageError("--image-has-job needs --image: the image that carries the job (mrargo image build JOB --tag IMG)")
    img = opts.image or published_image()
    if not img:
        raise UsageError(
            f"no worker image: this mrargo ({__version__}) is not a published release, so no image is known to match it; "
            f"build one with `mrargo image build --tag REGISTRY/mrargo-worker:TAG --push` and pass --image REGISTRY/mrargo-worker:TAG"
        )
    checks.image(img)
    title = checks.check_inert("job class name", opts.title or plan.job.class_name)
    desc = checks.check_inert("job description", opts.description or describe(plan))
    return replace(opts, name=name, image=img, title=title, description=desc)


def check_defaults(plan: JobPlan, defaults: RunDefaults, opts: CompileOptions) -> RunDefaults:
    """URLs pods can reach, a work root that is known, parameters Argo accepts, inputs apart from the output."""
    from mrargo import store

    for url in defaults.inputs:
        _pod_url("-i", url, opts)
    if defaults.output:
        _pod_url("-o", defaults.output, opts)
    work_root = defaults.work_root or (beside(defaults.output) if defaults.output else "")
    if not work_root:
        raise UsageError(
            "no work root: pass --work-root URL (where each run keeps its intermediate data, e.g. s3://bucket/_mrargo-work), "
            "or -o URL to keep it beside the output"
        )
    _pod_url("--work-root", work_root, opts)
    for k, v in defaults.params:
        checks.param_name(k)
        checks.check_inert(f"--param {k}", v)
    if defaults.inputs and defaults.output:
        store.check_apart(defaults.inputs, defaults.output, work_root)
    return replace(defaults, work_root=work_root)


def _pod_url(what: str, url: str, opts: CompileOptions) -> None:
    checks.remote_url(what, url)
    scheme = url.split("://", 1)[0].lower()
    if scheme not in IMAGE_SCHEMES and not opts.image_has_job and opts.image in ("", DEFAULT_IMAGE, published_image()):
        raise UsageError(
            f"{what} {url}: the stock worker image reads {', '.join(s + '://' for s in IMAGE_SCHEMES)} only; "
            f"for {scheme}:// build an image with its fsspec backend (mrargo image build --extra {scheme}fs --tag IMG) and pass --image IMG"
        )


def beside(output: str) -> str:
    """The default work root, a sibling of the output: s3://b/jobs/out -> s3://b/jobs/_mrargo-work."""
    scheme, _, path = output.partition("://")
    path = path.rstrip("/")
    parent = path.rsplit("/", 1)[0] if "/" in path else path
    return f"{scheme}://{parent}/_mrargo-work"


def describe(plan: JobPlan) -> str:
    where = os.path.basename(plan.job.path) if plan.job.path else plan.job.module
    steps = len(plan.steps)
    reducers = ", ".join(_reducers(s.reducers) for s in plan.steps)
    return f"MapReduce job {plan.job.class_name} from {where}: {steps} step{'s' if steps > 1 else ''} ({reducers}). Compiled by mrargo."


def _reducers(n: int | None) -> str:
    if n is None:
        return "reducers from the input size"
    return "map-only" if n == 0 else f"{n} reducer{'s' if n != 1 else ''}"
