"""Job plan -> hera objects: the DAG, the worker templates, the workflow spec.

hera is the only producer of Argo objects: templates are hera's generated
models, and the top-level object is hera's Workflow, WorkflowTemplate or
CronWorkflow, whose ``to_yaml`` gives a stable key order.

Data path: every task reads and writes ``{work-root}/{workflow.name}`` with
fsspec, the same runtime code a local run uses.  Between tasks Argo carries
only small counts (``split`` -> how many maps, ``shuffle`` -> how many
reduces), so the spec is the same for 10 splits or 100,000.

Run-time strings: ``input``, ``output``, ``work-root`` and each job param
are workflow parameters.  A template never puts them in command, args or
env; it declares a raw input artifact whose data is
``{{workflow.parameters.X}}``, which Argo writes to a file the worker reads.
Kubernetes never expands ``$(VAR)`` in a file.  Each task gets only the
values it reads (contract.TASK_VALUES): Argo copies a node's inputs into
the workflow's status once per attempt.
"""

from __future__ import annotations

from typing import Any

from hera.workflows import CronWorkflow, Workflow, WorkflowTemplate
from hera.workflows import models as m

from mrargo.argo import contract as c
from mrargo.argo.options import CompileOptions, RunDefaults
from mrargo.plan.model import JobPlan

DEFAULT_CPU = {"split": "250m", "map": "1", "shuffle": "250m", "reduce": "1", "commit": "250m", "cleanup": "100m"}
CLEANUP_TIMEOUT = 600  # seconds, at most the workflow's deadline
DEFAULT_MEMORY = {"split": "512Mi", "map": "1Gi", "shuffle": "512Mi", "reduce": "1Gi", "commit": "512Mi", "cleanup": "256Mi"}


def _param(name: str, value: str | None = None) -> m.Parameter:
    return m.Parameter(name=name, value=value)


def _count_of(task: str) -> str:
    return f"{{{{tasks.{task}.outputs.parameters.{c.OUT_COUNT}}}}}"


def _fan_out(name: str, template: str, after: str, step: list[m.Parameter]) -> m.DAGTask:
    """A task with one item per unit that ``after`` counted (its output parameter ``count``)."""
    return m.DAGTask(
        name=name,
        template=template,
        dependencies=[after],
        with_sequence=m.Sequence(count=m.IntOrString(_count_of(after))),
        arguments=m.Arguments(parameters=[*step, _param("index", "{{item}}")]),
    )


def dag_tasks(plan: JobPlan) -> list[m.DAGTask]:
    """split -> map[i] -> shuffle -> reduce[r], per step, then commit."""
    out: list[m.DAGTask] = []
    prev: str | None = None
    steps = len(plan.steps)
    for s, sp in enumerate(plan.steps):
        step = [_param("step", str(s + 1))]
        split, mapper = c.task_name("split", s, steps), c.task_name("map", s, steps)
        out.append(m.DAGTask(name=split, template="split", dependencies=[prev] if prev else None, arguments=m.Arguments(parameters=step)))
        out.append(_fan_out(mapper, "map", split, step))
        prev = mapper
        if not sp.map_only:
            shuffle, reduce = c.task_name("shuffle", s, steps), c.task_name("reduce", s, steps)
            out.append(m.DAGTask(name=shuffle, template="shuffle", dependencies=[mapper], arguments=m.Arguments(parameters=step)))
            out.append(_fan_out(reduce, "reduce", shuffle, step))
            prev = reduce
    out.append(m.DAGTask(name="commit", template="commit", dependencies=[prev] if prev else None))
    return out


def workflow_parameters(defaults: RunDefaults) -> list[m.Parameter]:
    """The parameters `argo submit -p` may set, with the compile-time defaults.

    A parameter with no value must be given at submit (Argo refuses the run
    otherwise, naming it); an empty string is a value.
    """

    def p(name: str, value: str | None, description: str) -> m.Parameter:
        return m.Parameter(name=name, value=value, description=description)

    out = [
        p(c.PARAM_INPUT, "\n".join(defaults.inputs) or None, "input URLs (files, folders or globs), one per line"),
        p(c.PARAM_OUTPUT, defaults.output or None, "output URL; part-NNNNN files and _SUCCESS are written there"),
        p(c.PARAM_WORK_ROOT, defaults.work_root, "URL under which each run keeps its intermediate data, in a folder named after the run"),
    ]
    out += [p(c.PARAM_PREFIX + k, v, f"job parameter {k!r} (self.params[{k!r}])") for k, v in defaults.params]
    return out


def _inputs(task: str, defaults: RunDefaults) -> m.Inputs:
    params = []
    if task in ("split", "map", "shuffle", "reduce"):
        params.append(m.Parameter(name="step"))
    if task in ("map", "reduce"):
        params.append(m.Parameter(name="index"))
    # Raw artifacts: Argo writes each value into a file; see the module docstring.
    names = c.values_of(task, tuple(k for k, _ in defaults.params))
    arts = [m.Artifact(name=n, path=f"{c.VALUES_DIR}/{n}", raw=m.RawArtifact(data=f"{{{{workflow.parameters.{n}}}}}")) for n in names]
    return m.Inputs(parameters=params or None, artifacts=arts)


def _outputs(task: str) -> m.Outputs | None:
    def out(name: str, desc: str) -> m.Parameter:
        return m.Parameter(name=name, description=desc, value_from=m.ValueFrom(path=f"{c.OUTPUTS_DIR}/{name}"))

    if task == "split":
        return m.Outputs(parameters=[out(c.OUT_COUNT, "number of map tasks")])
    if task == "shuffle":
        return m.Outputs(parameters=[out(c.OUT_COUNT, "number of reduce tasks")])
    if task == "commit":
        return m.Outputs(parameters=[out(c.OUT_COUNTERS, "job counters, JSON {group: {name: n}}"), out(c.OUT_RECORDS, "output records")])
    return None


def _args(task: str, digest: str, overwrite: bool) -> list[str]:
    args = [task, "--values", c.VALUES_DIR, "--run", "{{workflow.name}}", "--bundle", digest]
    if task in ("split", "map", "shuffle", "reduce"):
        args += ["--step", "{{inputs.parameters.step}}"]
    if task in ("map", "reduce"):
        args += ["--index", "{{inputs.parameters.index}}"]
    if task in ("split", "shuffle", "commit"):
        args += ["--outputs", c.OUTPUTS_DIR]
    if task in ("split", "commit") and overwrite:
        args.append("--overwrite")
    if task == "cleanup":
        # The exit handler runs whatever the outcome; the worker removes the
        # run's folder only after a success, so `argo retry` of a failed run
        # still finds every map output.
        args += ["--status", "{{workflow.status}}"]
    return args


def _env(task: str, opts: CompileOptions, bundle: str) -> list[m.EnvVar]:
    env = []
    if task == "split":
        # Base64 only: no '{{' for Argo, no '$(' for Kubernetes.
        env.append(m.EnvVar(name=c.BUNDLE_ENV, value=bundle))
    env += [
        m.EnvVar(name="HOME", value=c.SCRATCH),  # the root filesystem is read-only
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


def _resources(task: str, opts: CompileOptions) -> m.ResourceRequirements:
    cpu = dict(opts.cpu).get(task, DEFAULT_CPU[task])
    mem = dict(opts.memory).get(task, DEFAULT_MEMORY[task])
    # No CPU limit: it only throttles; memory is limited so a runaway task is
    # OOMKilled (137, retried) rather than starving its node.
    return m.ResourceRequirements(
        requests={"cpu": m.Quantity(cpu), "memory": m.Quantity(mem)},
        limits={"memory": m.Quantity(mem)},
    )


def _container_security() -> m.SecurityContext:
    return m.SecurityContext(
        run_as_non_root=True,
        run_as_user=c.USER_ID,
        run_as_group=c.USER_ID,
        allow_privilege_escalation=False,
        read_only_root_filesystem=True,
        privileged=False,
        capabilities=m.Capabilities(drop=["ALL"]),
        seccomp_profile=m.SeccompProfile(type="RuntimeDefault"),
    )


def pod_security() -> m.PodSecurityContext:
    """The pod's context, which Argo's own init and wait containers inherit.

    A user and group, not only runAsNonRoot: Argo's stock executor image runs
    as root, and the kubelet refuses a root container in a runAsNonRoot pod.
    With them set, init and wait run as that user too, which Argo supports
    (its shared folders are world-writable emptyDirs).
    """
    return m.PodSecurityContext(
        run_as_non_root=True,
        run_as_user=c.USER_ID,
        run_as_group=c.USER_ID,
        seccomp_profile=m.SeccompProfile(type="RuntimeDefault"),
    )


def _retry(opts: CompileOptions) -> m.RetryStrategy | None:
    if opts.retries <= 0:
        return None
    # No backoff.maxDuration: Argo counts it from the first attempt's start,
    # so a long task's retry would get what is left of it.  The workflow's
    # deadline bounds the whole run instead.
    return m.RetryStrategy(
        limit=m.IntOrString(opts.retries),
        retry_policy="Always",
        expression=c.RETRY_EXPRESSION,
        backoff=m.Backoff(duration="10s", factor=m.IntOrString(2), cap="5m"),
    )


def worker_template(task: str, opts: CompileOptions, defaults: RunDefaults, bundle: str, digest: str) -> m.Template:
    labels = {f"{c.LABEL_PREFIX}/job": opts.name, f"{c.LABEL_PREFIX}/task": task}
    if task in ("split", "map", "shuffle", "reduce"):
        labels[f"{c.LABEL_PREFIX}/step"] = "{{inputs.parameters.step}}"
    container = m.Container(
        image=opts.image,
        image_pull_policy=opts.image_pull_policy or None,
        command=list(c.WORKER_COMMAND),
        args=_args(task, digest, opts.overwrite),
        env=_env(task, opts, bundle),
        resources=_resources(task, opts),
        security_context=_container_security(),
        volume_mounts=[
            m.VolumeMount(name=c.SCRATCH_VOLUME, mount_path=c.SCRATCH),
            m.VolumeMount(name=c.VALUES_VOLUME, mount_path=c.VALUES_DIR),
        ],
        termination_message_policy="FallbackToLogsOnError",
    )
    return m.Template(
        name=task,
        metadata=m.Metadata(labels=labels),
        inputs=_inputs(task, defaults),
        outputs=_outputs(task),
        container=container,
        retry_strategy=_retry(opts),
        active_deadline_seconds=m.IntOrString(opts.timeout) if opts.timeout else None,
        # The exit handler is exempt from the workflow's deadline, so a pod of
        # it that never starts (an image that is not there) would keep the
        # run Running for ever.  `timeout` counts Pending time too.
        timeout=f"{min(CLEANUP_TIMEOUT, opts.deadline or CLEANUP_TIMEOUT)}s" if task == "cleanup" else None,
    )


def templates(plan: JobPlan, opts: CompileOptions, defaults: RunDefaults, bundle: str, digest: str) -> list[m.Template]:
    tasks = ["split", "map"]
    if any(not s.map_only for s in plan.steps):
        tasks += ["shuffle", "reduce"]
    tasks.append("commit")
    if not opts.keep_intermediate:
        tasks.append("cleanup")
    dag = m.Template(name=c.ENTRYPOINT, dag=m.DAGTemplate(tasks=dag_tasks(plan)))
    return [dag, *(worker_template(t, opts, defaults, bundle, digest) for t in tasks)]


def build_object(plan: JobPlan, opts: CompileOptions, defaults: RunDefaults, bundle: str, digest: str) -> Workflow:
    """The hera Workflow, WorkflowTemplate or CronWorkflow for this plan."""
    labels = {f"{c.LABEL_PREFIX}/job": opts.name}
    annotations = {"workflows.argoproj.io/title": opts.title, "workflows.argoproj.io/description": opts.description}
    spec: dict[str, Any] = dict(
        namespace=opts.namespace or None,
        labels=labels,
        annotations=annotations,
        entrypoint=c.ENTRYPOINT,
        arguments=m.Arguments(parameters=workflow_parameters(defaults)),
        templates=templates(plan, opts, defaults, bundle, digest),
        on_exit=None if opts.keep_intermediate else "cleanup",
        service_account_name=opts.service_account or None,
        parallelism=opts.parallelism or None,
        # Counts Pending time too (an unpullable image, no node), which a
        # template's activeDeadlineSeconds does not.
        active_deadline_seconds=opts.deadline or None,
        pod_gc=m.PodGC(strategy="OnPodSuccess"),
        ttl_strategy=m.TTLStrategy(seconds_after_success=86400, seconds_after_failure=7 * 86400),
        security_context=pod_security(),
        volumes=[
            m.Volume(name=c.SCRATCH_VOLUME, empty_dir=m.EmptyDirVolumeSource()),
            m.Volume(name=c.VALUES_VOLUME, empty_dir=m.EmptyDirVolumeSource()),
        ],
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
