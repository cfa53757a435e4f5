"""Plan -> hera objects: the DAG, the worker templates, the workflow spec.

hera is the only producer of Argo objects here: templates are hera's
generated models, and the top-level object is hera's Workflow,
WorkflowTemplate or CronWorkflow, whose ``to_yaml`` gives a stable order.

Data path: every task reads and writes ``{work-root}/{workflow.name}`` with
fsspec, the same runtime code a local run uses.  Between tasks Argo carries
only small counts (``split`` -> how many maps, ``shuffle`` -> how many
reduces), so the spec is the same for 10 splits or 100,000.

Run-time strings: ``input``, ``output``, ``work-root`` and each job param
are workflow parameters.  A template never puts them in command, args or
env; it declares a raw input artifact whose data is
``{{workflow.parameters.X}}``, which Argo writes to a file the worker reads.
Kubernetes never expands ``$(VAR)`` in a file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hera.workflows import CronWorkflow, Workflow, WorkflowTemplate
from hera.workflows import models as m

from mrargo.plan import Plan

VALUES_DIR = "/mrargo/values"
SCRATCH = "/tmp"
OUTPUTS = "/tmp/outputs"
USER_ID = 10001
BUNDLE_PARAM = "mrargo-bundle"
ENTRYPOINT = "mapreduce"
PHASES = ("split", "map", "shuffle", "reduce", "commit", "cleanup")
DEFAULT_CPU = {"split": "250m", "map": "1", "shuffle": "250m", "reduce": "1", "commit": "250m", "cleanup": "100m"}
DEFAULT_MEMORY = {"split": "512Mi", "map": "1Gi", "shuffle": "512Mi", "reduce": "1Gi", "commit": "512Mi", "cleanup": "256Mi"}
# Exit code 3 is the worker's "the job's own code raised": deterministic, so
# retrying burns time and gives the same error.  Everything else (OOMKilled
# 137, eviction, a deleted pod, a storage hiccup) is retried.
RETRY_EXPRESSION = 'lastRetry.exitCode != "3"'
LABEL_PREFIX = "mrargo.io"


@dataclass(frozen=True)
class CompileOptions:
    """Everything about the Argo spec that is not in the plan."""

    kind: str = "workflow"  # workflow | template | cron
    name: str = ""
    namespace: str = ""
    schedule: str = ""
    image: str = ""
    embed_sources: bool = True
    artifact_repository: tuple[str, str] | None = None  # (configmap, key)
    service_account: str = ""
    retries: int = 3
    timeout: int | None = None
    cpu: tuple[tuple[str, str], ...] = ()  # (phase, quantity) overrides
    memory: tuple[tuple[str, str], ...] = ()
    parallelism: int | None = None
    keep_intermediate: bool = False
    work_root: str = ""
    s3_secret: str = ""
    s3_secret_keys: tuple[str, str] = ("accesskey", "secretkey")
    s3_endpoint: str = ""
    title: str = ""
    description: str = ""


@dataclass(frozen=True)
class RunValues:
    """Defaults of the run-time workflow parameters ("" = none: give it at submit)."""

    inputs: tuple[str, ...]
    output: str
    work_root: str
    params: tuple[tuple[str, str], ...]
    bundle: str


def task_name(plan: Plan, phase: str, step: int) -> str:
    """`map` for one-step jobs, `map-2` when there are several steps."""
    if phase == "commit" or len(plan.steps) == 1:
        return phase
    return f"{phase}-{step + 1}"


def _param(name: str, value: str | None = None) -> m.Parameter:
    return m.Parameter(name=name, value=value)


def _count_of(task: str) -> str:
    return f"{{{{tasks.{task}.outputs.parameters.count}}}}"


def dag_tasks(plan: Plan) -> list[m.DAGTask]:
    """split -> map[i] -> shuffle -> reduce[r], per step, then commit."""
    out: list[m.DAGTask] = []
    prev: str | None = None
    for s, sp in enumerate(plan.steps):
        step = [_param("step", str(s + 1))]
        fan = [*step, _param("index", "{{item}}")]
        split, mapper = task_name(plan, "split", s), task_name(plan, "map", s)
        out.append(m.DAGTask(name=split, template="split", dependencies=[prev] if prev else None, arguments=m.Arguments(parameters=step)))
        out.append(
            m.DAGTask(
                name=mapper,
                template="map",
                dependencies=[split],
                with_sequence=m.Sequence(count=m.IntOrString(_count_of(split))),
                arguments=m.Arguments(parameters=fan),
            )
        )
        prev = mapper
        if not sp.map_only:
            shuffle, reduce = task_name(plan, "shuffle", s), task_name(plan, "reduce", s)
            out.append(m.DAGTask(name=shuffle, template="shuffle", dependencies=[mapper], arguments=m.Arguments(parameters=step)))
            out.append(
                m.DAGTask(
                    name=reduce,
                    template="reduce",
                    dependencies=[shuffle],
                    with_sequence=m.Sequence(count=m.IntOrString(_count_of(shuffle))),
                    arguments=m.Arguments(parameters=fan),
                )
            )
            prev = reduce
    out.append(m.DAGTask(name="commit", template="commit", dependencies=[prev] if prev else None))
    return out


def value_names(values: RunValues) -> list[str]:
    return ["input", "output", "work-root", *(f"param-{k}" for k, _ in values.params)]


def workflow_parameters(values: RunValues) -> list[m.Parameter]:
    """The parameters `argo submit -p` may set, with the compile-time defaults."""

    def p(name: str, value: str, description: str) -> m.Parameter:
        return m.Parameter(name=name, value=value or None, description=description)

    out = [
        p("input", "\n".join(values.inputs), "input URLs (files, folders or globs), one per line"),
        p("output", values.output, "output URL; part-NNNNN files and _SUCCESS are written there"),
        p("work-root", values.work_root, "URL under which each run keeps its intermediate data, in a folder named after the run"),
    ]
    out += [p(f"param-{k}", v, f"job parameter {k!r} (self.params[{k!r}])") for k, v in values.params]
    out.append(p(BUNDLE_PARAM, values.bundle, "generated by mrargo compile: the job's plan and code (base64); do not edit"))
    return out


def _phase_inputs(phase: str, values: RunValues) -> m.Inputs:
    params = []
    if phase in ("split", "map", "shuffle", "reduce"):
        params.append(m.Parameter(name="step"))
    if phase in ("map", "reduce"):
        params.append(m.Parameter(name="index"))
    # Raw artifacts: Argo writes each value into a file; see the module docstring.
    arts = [
        m.Artifact(name=n, path=f"{VALUES_DIR}/{n}", raw=m.RawArtifact(data=f"{{{{workflow.parameters.{n}}}}}"))
        for n in value_names(values)
    ]
    return m.Inputs(parameters=params or None, artifacts=arts)


def _phase_outputs(phase: str) -> m.Outputs | None:
    def out(name: str, desc: str) -> m.Parameter:
        return m.Parameter(name=name, description=desc, value_from=m.ValueFrom(path=f"{OUTPUTS}/{name}"))

    if phase == "split":
        return m.Outputs(parameters=[out("count", "number of map tasks")])
    if phase == "shuffle":
        return m.Outputs(parameters=[out("count", "number of reduce tasks")])
    if phase == "commit":
        return m.Outputs(parameters=[out("counters", "job counters, JSON {group: {name: n}}"), out("records", "output records")])
    return None


def _args(phase: str) -> list[str]:
    args = [phase, "--values", VALUES_DIR, "--run", "{{workflow.name}}"]
    if phase in ("split", "map", "shuffle", "reduce"):
        args += ["--step", "{{inputs.parameters.step}}"]
    if phase in ("map", "reduce"):
        args += ["--index", "{{inputs.parameters.index}}"]
    if phase in ("split", "shuffle", "commit"):
        args += ["--outputs", OUTPUTS]
    return args


def _env(opts: CompileOptions) -> list[m.EnvVar]:
    env = [
        # Base64 only: no '{{' for Argo, no '$(' for Kubernetes.
        m.EnvVar(name="MRARGO_BUNDLE", value=f"{{{{workflow.parameters.{BUNDLE_PARAM}}}}}"),
        m.EnvVar(name="HOME", value=SCRATCH),  # the root filesystem is read-only
        m.EnvVar(name="PYTHONDONTWRITEBYTECODE", value="1"),
        m.EnvVar(name="PYTHONUNBUFFERED", value="1"),
    ]
    if opts.s3_secret:
        access, secret = opts.s3_secret_keys
        for name, key in (("AWS_ACCESS_KEY_ID", access), ("AWS_SECRET_ACCESS_KEY", secret)):
            ref = m.SecretKeySelector(name=opts.s3_secret, key=key)
            env.append(m.EnvVar(name=name, value_from=m.EnvVarSource(secret_key_ref=ref)))
    if opts.s3_endpoint:
        env.append(m.EnvVar(name="AWS_ENDPOINT_URL", value=opts.s3_endpoint))
        env.append(m.EnvVar(name="FSSPEC_S3_ENDPOINT_URL", value=opts.s3_endpoint))
    return env


def _resources(phase: str, opts: CompileOptions) -> m.ResourceRequirements:
    cpu = dict(opts.cpu).get(phase, DEFAULT_CPU[phase])
    mem = dict(opts.memory).get(phase, DEFAULT_MEMORY[phase])
    # No CPU limit: it only throttles; memory is limited so a runaway task is
    # OOMKilled (137, retried) rather than starving its node.
    return m.ResourceRequirements(
        requests={"cpu": m.Quantity(cpu), "memory": m.Quantity(mem)},
        limits={"memory": m.Quantity(mem)},
    )


def _container_security() -> m.SecurityContext:
    return m.SecurityContext(
        run_as_non_root=True,
        run_as_user=USER_ID,
        run_as_group=USER_ID,
        allow_privilege_escalation=False,
        read_only_root_filesystem=True,
        privileged=False,
        capabilities=m.Capabilities(drop=["ALL"]),
        seccomp_profile=m.SeccompProfile(type="RuntimeDefault"),
    )


def _retry(opts: CompileOptions) -> m.RetryStrategy | None:
    if opts.retries <= 0:
        return None
    return m.RetryStrategy(
        limit=m.IntOrString(opts.retries),
        retry_policy="Always",
        expression=RETRY_EXPRESSION,
        backoff=m.Backoff(duration="10s", factor=m.IntOrString(2), max_duration="1h"),
    )


def worker_template(phase: str, opts: CompileOptions, values: RunValues, job_label: str) -> m.Template:
    labels = {f"{LABEL_PREFIX}/job": job_label, f"{LABEL_PREFIX}/phase": phase}
    if phase in ("split", "map", "shuffle", "reduce"):
        labels[f"{LABEL_PREFIX}/step"] = "{{inputs.parameters.step}}"
    container = m.Container(
        image=opts.image,
        command=["python", "-m", "mrargo.worker"],
        args=_args(phase),
        env=_env(opts),
        resources=_resources(phase, opts),
        security_context=_container_security(),
        volume_mounts=[m.VolumeMount(name="scratch", mount_path=SCRATCH)],
        termination_message_policy="FallbackToLogsOnError",
    )
    return m.Template(
        name=phase,
        metadata=m.Metadata(labels=labels),
        inputs=_phase_inputs(phase, values),
        outputs=_phase_outputs(phase),
        container=container,
        retry_strategy=_retry(opts),
        active_deadline_seconds=m.IntOrString(opts.timeout) if opts.timeout else None,
    )


def templates(plan: Plan, opts: CompileOptions, values: RunValues, job_label: str) -> list[m.Template]:
    phases = ["split", "map"]
    if any(not s.map_only for s in plan.steps):
        phases += ["shuffle", "reduce"]
    phases.append("commit")
    if not opts.keep_intermediate:
        phases.append("cleanup")
    dag = m.Template(name=ENTRYPOINT, dag=m.DAGTemplate(tasks=dag_tasks(plan)))
    return [dag, *(worker_template(p, opts, values, job_label) for p in phases)]


def build_object(plan: Plan, opts: CompileOptions, values: RunValues, job_label: str) -> Workflow:
    """The hera Workflow, WorkflowTemplate or CronWorkflow for this plan."""
    labels = {f"{LABEL_PREFIX}/job": job_label}
    annotations = {"workflows.argoproj.io/title": opts.title, "workflows.argoproj.io/description": opts.description}
    spec: dict[str, Any] = dict(
        namespace=opts.namespace or None,
        labels=labels,
        annotations=annotations,
        entrypoint=ENTRYPOINT,
        arguments=m.Arguments(parameters=workflow_parameters(values)),
        templates=templates(plan, opts, values, job_label),
        on_exit=None if opts.keep_intermediate else "cleanup",
        service_account_name=opts.service_account or None,
        parallelism=opts.parallelism,
        pod_gc=m.PodGC(strategy="OnPodSuccess"),
        ttl_strategy=m.TTLStrategy(seconds_after_success=86400, seconds_after_failure=7 * 86400),
        security_context=m.PodSecurityContext(run_as_non_root=True, seccomp_profile=m.SeccompProfile(type="RuntimeDefault")),
        volumes=[m.Volume(name="scratch", empty_dir=m.EmptyDirVolumeSource())],
    )
    if opts.artifact_repository:
        cm, key = opts.artifact_repository
        spec["artifact_repository_ref"] = m.ArtifactRepositoryRef(config_map=cm, key=key or None)
    if opts.kind == "workflow":
        return Workflow(generate_name=f"{opts.name}-", **spec)
    # Runs started from a template or a schedule carry the labels and the
    # UI title too, not just the template object.
    spec["workflow_metadata"] = m.WorkflowMetadata(labels=labels, annotations=annotations)
    if opts.kind == "template":
        return WorkflowTemplate(name=opts.name, **spec)
    # Forbid: two runs of one schedule would race for the same output.
    return CronWorkflow(name=opts.name, schedules=[opts.schedule], concurrency_policy="Forbid", **spec)
