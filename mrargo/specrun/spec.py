"""A compiled spec, read and checked: the Argo subset that mrargo compile emits.

``load_spec(doc)`` turns a Workflow, WorkflowTemplate or CronWorkflow (the
YAML, already parsed) into frozen dataclasses, or refuses it with one line
that names the field.  Every key is checked against what mrargo emits: a
field with run-time meaning the emulator does not implement (``when``,
``steps``, ``script``, artifacts from S3, ...) must never be ignored
silently, or the local run would differ from Argo's without a word.  Fields
that only matter to Kubernetes are accepted and have no local effect; the
comment at ``_KEYS`` says why each is safe to ignore.

Every ``{{...}}`` is resolved statically here, as ``argo lint`` does, so a
broken reference fails before any pod runs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from mrargo.specrun.expr import RetryExpression, SpecError, parse_depends, parse_duration, parse_retry_expression, tags

API_VERSION = "argoproj.io/v1alpha1"
ARGO_KINDS = ("Workflow", "WorkflowTemplate", "CronWorkflow")
RETRY_POLICIES = ("Always", "OnFailure", "OnError")
POD_GC = ("", "OnPodSuccess", "OnPodCompletion", "OnWorkflowSuccess", "OnWorkflowCompletion")
# The keys mrargo compile emits, per object; any other key is refused.  Of
# these, some have no local meaning: image (this Python and this mrargo
# stand in for the image); resources and securityContext (a local process
# is not limited or sandboxed); serviceAccountName and artifactRepositoryRef
# (credentials and storage come from this machine's environment and
# --store); ttlStrategy, labels, annotations, workflowMetadata, schedules
# and concurrencyPolicy (no Kubernetes object exists to label or expire,
# and a CronWorkflow runs once).  podGC is emulated on pod folders.
_KEYS = {
    "top": {"apiVersion", "kind", "metadata", "spec"},
    "metadata": {"name", "generateName", "namespace", "labels", "annotations"},
    "spec": {"entrypoint", "onExit", "templates", "arguments", "volumes", "parallelism", "podGC", "ttlStrategy",
             "securityContext", "serviceAccountName", "artifactRepositoryRef", "workflowMetadata", "activeDeadlineSeconds"},
    "cron": {"workflowSpec", "schedules", "schedule", "concurrencyPolicy"},
    "template": {"name", "metadata", "inputs", "outputs", "container", "dag", "retryStrategy", "activeDeadlineSeconds", "timeout"},
    "container": {"image", "imagePullPolicy", "command", "args", "env", "resources", "securityContext", "volumeMounts",
                  "terminationMessagePolicy"},
    "task": {"name", "template", "dependencies", "depends", "arguments", "withSequence", "withParam"},
}  # fmt: skip


@dataclass(frozen=True)
class Param:
    name: str
    value: str | None = None  # None: no default, so it must be given


@dataclass(frozen=True)
class RawArtifact:
    name: str
    path: str
    data: str


@dataclass(frozen=True)
class OutputParam:
    name: str
    path: str


@dataclass(frozen=True)
class EnvVar:
    name: str
    value: str = ""
    secret: tuple[str, str] | None = None  # (Secret, key) of a secretKeyRef


@dataclass(frozen=True)
class Container:
    command: tuple[str, ...]
    args: tuple[str, ...]
    env: tuple[EnvVar, ...]
    mounts: tuple[tuple[str, str], ...]  # (volume name, mount path)
    fallback_to_logs: bool  # terminationMessagePolicy: FallbackToLogsOnError


@dataclass(frozen=True)
class Backoff:
    duration: float
    factor: float | None = None
    max_duration: float | None = None
    cap: float | None = None


@dataclass(frozen=True)
class RetryStrategy:
    limit: int | None
    policy: str
    expression: RetryExpression | None = None
    backoff: Backoff | None = None


@dataclass(frozen=True)
class Sequence:
    count: str | None = None
    start: str | None = None
    end: str | None = None


@dataclass(frozen=True)
class Task:
    name: str
    template: str
    depends: tuple[tuple[str, bool], ...] = ()  # (task, Succeeded only)
    arguments: tuple[Param, ...] = ()
    sequence: Sequence | None = None
    with_param: str | None = None

    @property
    def expands(self) -> bool:
        return self.sequence is not None or self.with_param is not None


@dataclass(frozen=True)
class Template:
    name: str
    inputs: tuple[Param, ...] = ()
    artifacts: tuple[RawArtifact, ...] = ()
    outputs: tuple[OutputParam, ...] = ()
    container: Container | None = None
    tasks: tuple[Task, ...] = ()  # a dag template when there is no container
    retry: RetryStrategy | None = None
    deadline: str | None = None  # activeDeadlineSeconds, tags allowed
    timeout: float | None = None  # seconds; Argo counts Pending time too, a local process has none


@dataclass(frozen=True)
class Spec:
    kind: str
    name: str  # the run's name, or its prefix when generate is set
    generate: bool  # add 5 random characters, as Kubernetes does for generateName
    entrypoint: str
    on_exit: str | None
    templates: tuple[Template, ...]
    parameters: tuple[Param, ...]
    volumes: tuple[str, ...]  # emptyDir volumes by name
    parallelism: int | None = None
    pod_gc: str = ""
    namespace: str = ""
    deadline: int | None = None  # spec.activeDeadlineSeconds

    def template(self, name: str) -> Template:
        for t in self.templates:
            if t.name == name:
                return t
        raise SpecError(f"template {name!r} does not exist in spec.templates")


# -- reading -------------------------------------------------------------------------


def _mapping(obj: Any, where: str, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise SpecError(f"{where} must be a mapping, found {type(obj).__name__}")
    for key in obj:
        if key not in allowed:
            raise SpecError(
                f"{where}.{key} is not supported by mrargo run: it emulates only the Argo fields that mrargo compile emits; "
                "run this spec on Argo (argo submit)"
            )
    return obj


def _sub(parent: dict[str, Any], key: str, where: str, allowed: set[str]) -> dict[str, Any]:
    """An optional nested mapping ``parent[key]``, checked like its parent."""
    return _mapping(parent.get(key) or {}, f"{where}.{key}", allowed)


def _list(obj: Any, where: str) -> list[Any]:
    if obj is None:
        return []
    if not isinstance(obj, list):
        raise SpecError(f"{where} must be a list, found {type(obj).__name__}")
    return obj


def _str(obj: Any, where: str) -> str:
    if isinstance(obj, bool) or not isinstance(obj, (str, int, float)):
        raise SpecError(f"{where} must be a string, found {type(obj).__name__}")
    return str(obj)


def _int(obj: Any, where: str) -> int:
    try:
        return int(_str(obj, where))
    except ValueError:
        raise SpecError(f"{where} {obj!r} must be a whole number") from None


def _path(obj: Any, where: str) -> str:
    path = _str(obj, where)
    if not path.startswith("/") or "{{" in path or ".." in path.split("/"):
        raise SpecError(f"{where} {path!r} must be a fixed absolute path")
    return path.rstrip("/") or "/"


def _params(obj: Any, where: str) -> tuple[Param, ...]:
    out = []
    for i, p in enumerate(_list(obj, where)):
        p = _mapping(p, f"{where}[{i}]", {"name", "value", "description"})
        value = p.get("value")
        out.append(Param(_str(p.get("name"), f"{where}[{i}].name"), None if value is None else _str(value, f"{where}[{i}].value")))
    return tuple(out)


def load_spec(doc: Any) -> Spec:
    """The spec, checked; a SpecError names the first field the emulator cannot run."""
    doc = _mapping(doc, "the spec", _KEYS["top"])
    if doc.get("apiVersion") != API_VERSION or doc.get("kind") not in ARGO_KINDS:
        raise SpecError(
            f"the spec is apiVersion {doc.get('apiVersion')!r} kind {doc.get('kind')!r}; "
            f"mrargo run takes an {API_VERSION} {', '.join(ARGO_KINDS)} compiled by mrargo"
        )
    kind = str(doc["kind"])
    meta = _mapping(doc.get("metadata") or {}, "metadata", _KEYS["metadata"])
    # argo submit --from workflowtemplate/NAME (or cronwf/NAME) names the run NAME-xxxxx.
    generate = kind != "Workflow" or not meta.get("name") or bool(meta.get("generateName"))
    name = meta.get("generateName") or (f"{meta['name']}-" if generate and meta.get("name") else meta.get("name"))
    if not name:
        raise SpecError("metadata has neither name nor generateName; recompile the spec")
    body = doc.get("spec")
    where = "spec"
    if kind == "CronWorkflow":
        body = _mapping(body, "spec", _KEYS["cron"]).get("workflowSpec")
        where = "spec.workflowSpec"
    spec = _workflow_spec(_mapping(body, where, _KEYS["spec"]), where, kind, (_str(name, "metadata.name"), generate))
    spec = replace(spec, namespace=str(meta.get("namespace") or ""))
    check_spec(spec, where)
    return spec


def _workflow_spec(body: dict[str, Any], where: str, kind: str, name: tuple[str, bool]) -> Spec:
    volumes = []
    for i, v in enumerate(_list(body.get("volumes"), f"{where}.volumes")):
        v = _mapping(v, f"{where}.volumes[{i}]", {"name", "emptyDir"})
        if "emptyDir" not in v:
            raise SpecError(f"{where}.volumes[{i}] must be an emptyDir volume; mrargo run has no other kind")
        _mapping(v["emptyDir"] or {}, f"{where}.volumes[{i}].emptyDir", set())
        volumes.append(_str(v.get("name"), f"{where}.volumes[{i}].name"))
    gc = _mapping(body.get("podGC") or {}, f"{where}.podGC", {"strategy"}).get("strategy") or ""
    if gc not in POD_GC:
        raise SpecError(f"{where}.podGC.strategy {gc!r} must be one of {', '.join(s for s in POD_GC if s)}")
    args = _mapping(body.get("arguments") or {}, f"{where}.arguments", {"parameters"})
    templates = tuple(
        _template(t, f"{where}.templates[{i}]", tuple(volumes)) for i, t in enumerate(_list(body.get("templates"), f"{where}.templates"))
    )
    parallelism = body.get("parallelism")
    deadline = body.get("activeDeadlineSeconds")
    return Spec(
        kind=kind,
        name=name[0],
        generate=name[1],
        entrypoint=_str(body.get("entrypoint"), f"{where}.entrypoint"),
        on_exit=_str(body["onExit"], f"{where}.onExit") if body.get("onExit") else None,
        templates=templates,
        parameters=_params(args.get("parameters"), f"{where}.arguments.parameters"),
        volumes=tuple(volumes),
        parallelism=None if parallelism is None else _int(parallelism, f"{where}.parallelism"),
        pod_gc=str(gc),
        deadline=None if deadline is None else _int(deadline, f"{where}.activeDeadlineSeconds"),
    )


def _named(obj: Any, where: str) -> str:
    """``templates[3]`` becomes ``templates[map]`` once the name is known: errors then name what users see."""
    name = obj.get("name") if isinstance(obj, dict) else None
    return f"{where.rsplit('[', 1)[0]}[{name}]" if isinstance(name, str) and name else where


def _template(obj: Any, where: str, volumes: tuple[str, ...]) -> Template:
    where = _named(obj, where)
    t = _mapping(obj, where, _KEYS["template"])
    name = _str(t.get("name"), f"{where}.name")
    if ("container" in t) == ("dag" in t):
        raise SpecError(f"{where} must have exactly one of container or dag (the template kinds mrargo compile emits)")
    _mapping(t.get("metadata") or {}, f"{where}.metadata", {"labels", "annotations"})
    inputs = _mapping(t.get("inputs") or {}, f"{where}.inputs", {"parameters", "artifacts"})
    arts = []
    for i, a in enumerate(_list(inputs.get("artifacts"), f"{where}.inputs.artifacts")):
        w = f"{where}.inputs.artifacts[{i}]"
        a = _mapping(a, w, {"name", "path", "raw"})
        if "raw" not in a:
            raise SpecError(f"{w} must be a raw artifact (raw.data); mrargo run does not fetch artifacts from a repository")
        data = _str(_sub(a, "raw", w, {"data"}).get("data", ""), f"{w}.raw.data")
        arts.append(RawArtifact(_str(a.get("name"), f"{w}.name"), _path(a.get("path"), f"{w}.path"), data))
    outs = []
    outputs = _sub(t, "outputs", where, {"parameters"}).get("parameters")
    for i, o in enumerate(_list(outputs, f"{where}.outputs.parameters")):
        w = f"{where}.outputs.parameters[{i}]"
        o = _mapping(o, w, {"name", "description", "valueFrom"})
        path = _path(_sub(o, "valueFrom", w, {"path"}).get("path"), f"{w}.valueFrom.path")
        outs.append(OutputParam(_str(o.get("name"), f"{w}.name"), path))
    dag = _mapping(t["dag"], f"{where}.dag", {"tasks"}) if "dag" in t else {}
    deadline = t.get("activeDeadlineSeconds")
    return Template(
        name=name,
        inputs=_params(inputs.get("parameters"), f"{where}.inputs.parameters"),
        artifacts=tuple(arts),
        outputs=tuple(outs),
        container=_container(t["container"], f"{where}.container", volumes) if "container" in t else None,
        tasks=tuple(_task(x, f"{where}.dag.tasks[{i}]") for i, x in enumerate(_list(dag.get("tasks"), f"{where}.dag.tasks"))),
        retry=_retry(t["retryStrategy"], f"{where}.retryStrategy") if t.get("retryStrategy") else None,
        deadline=None if deadline is None else _str(deadline, f"{where}.activeDeadlineSeconds"),
        timeout=parse_duration(_str(t["timeout"], f"{where}.timeout"), f"{where}.timeout") if t.get("timeout") else None,
    )


def _container(obj: Any, where: str, volumes: tuple[str, ...]) -> Container:
    c = _mapping(obj, where, _KEYS["container"])
    env = []
    for i, e in enumerate(_list(c.get("env"), f"{where}.env")):
        w = f"{where}.env[{i}]"
        e = _mapping(e, w, {"name", "value", "valueFrom"})
        name = _str(e.get("name"), f"{w}.name")
        if "valueFrom" in e:
            ref = _sub(_sub(e, "valueFrom", w, {"secretKeyRef"}), "secretKeyRef", f"{w}.valueFrom", {"name", "key"})
            secret = (_str(ref.get("name"), f"{w}.secretKeyRef.name"), _str(ref.get("key"), f"{w}.secretKeyRef.key"))
            env.append(EnvVar(name, secret=secret))
        else:
            env.append(EnvVar(name, _str(e.get("value", ""), f"{w}.value")))
    mounts = []
    for i, m in enumerate(_list(c.get("volumeMounts"), f"{where}.volumeMounts")):
        m = _mapping(m, f"{where}.volumeMounts[{i}]", {"name", "mountPath"})
        if m.get("name") not in volumes:
            raise SpecError(f"{where}.volumeMounts[{i}] names volume {m.get('name')!r}, which is not in spec.volumes")
        mounts.append((str(m["name"]), _path(m.get("mountPath"), f"{where}.volumeMounts[{i}].mountPath")))
    policy = c.get("terminationMessagePolicy") or "File"
    if policy not in ("File", "FallbackToLogsOnError"):
        raise SpecError(f"{where}.terminationMessagePolicy {policy!r} must be File or FallbackToLogsOnError")
    command = tuple(_str(x, f"{where}.command") for x in _list(c.get("command"), f"{where}.command"))
    if not command or command[0] != "python":
        raise SpecError(f"{where}.command must start with python (mrargo's worker); mrargo run cannot run another image's programs")
    return Container(
        command=command,
        args=tuple(_str(x, f"{where}.args") for x in _list(c.get("args"), f"{where}.args")),
        env=tuple(env),
        mounts=tuple(mounts),
        fallback_to_logs=policy == "FallbackToLogsOnError",
    )


def _retry(obj: Any, where: str) -> RetryStrategy:
    r = _mapping(obj, where, {"limit", "retryPolicy", "expression", "backoff"})
    expression = None
    if r.get("expression"):
        expression = parse_retry_expression(_str(r["expression"], f"{where}.expression"), f"{where}.expression")
    # Argo 3.5+: with an expression and no policy, the expression alone decides (Always);
    # otherwise the default is OnFailure (https://argo-workflows.readthedocs.io/en/latest/retries/).
    policy = r.get("retryPolicy") or ("Always" if expression else "OnFailure")
    if policy not in RETRY_POLICIES:
        raise SpecError(f"{where}.retryPolicy {policy!r} is not supported by mrargo run; use one of {', '.join(RETRY_POLICIES)}")
    backoff = None
    if r.get("backoff"):
        b = _mapping(r["backoff"], f"{where}.backoff", {"duration", "factor", "maxDuration", "cap"})
        backoff = Backoff(
            duration=parse_duration(b.get("duration", ""), f"{where}.backoff.duration"),
            factor=float(_int(b["factor"], f"{where}.backoff.factor")) if b.get("factor") is not None else None,
            max_duration=parse_duration(b["maxDuration"], f"{where}.backoff.maxDuration") if b.get("maxDuration") else None,
            cap=parse_duration(b["cap"], f"{where}.backoff.cap") if b.get("cap") else None,
        )
    limit = None if r.get("limit") is None else _int(r["limit"], f"{where}.limit")
    return RetryStrategy(limit=limit, policy=str(policy), expression=expression, backoff=backoff)


def _task(obj: Any, where: str) -> Task:
    where = _named(obj, where)
    t = _mapping(obj, where, _KEYS["task"])
    name = _str(t.get("name"), f"{where}.name")
    if t.get("dependencies") and t.get("depends"):
        raise SpecError(f"{where} has both dependencies and depends; Argo allows only one")
    deps = tuple((_str(d, f"{where}.dependencies"), False) for d in _list(t.get("dependencies"), f"{where}.dependencies"))
    if t.get("depends"):
        deps = parse_depends(_str(t["depends"], f"{where}.depends"), f"{where}.depends")
    seq = None
    if "withSequence" in t:
        s = _mapping(t["withSequence"], f"{where}.withSequence", {"count", "start", "end"})
        if s.get("count") is None and s.get("end") is None:
            raise SpecError(f"{where}.withSequence needs count or end")
        seq = Sequence(*(None if s.get(k) is None else _str(s[k], f"{where}.withSequence.{k}") for k in ("count", "start", "end")))
    if seq and "withParam" in t:
        raise SpecError(f"{where} has both withSequence and withParam; use one")
    return Task(
        name=name,
        template=_str(t.get("template"), f"{where}.template"),
        depends=deps,
        arguments=_params(_sub(t, "arguments", where, {"parameters"}).get("parameters"), f"{where}.arguments.parameters"),
        sequence=seq,
        with_param=_str(t["withParam"], f"{where}.withParam") if "withParam" in t else None,
    )


# -- static checks -------------------------------------------------------------------


def check_spec(spec: Spec, where: str) -> None:
    names = [t.name for t in spec.templates]
    if len(set(names)) != len(names):
        raise SpecError(f"{where}.templates has two templates with one name; names must be unique")
    entry = spec.template(spec.entrypoint)
    if entry.container is not None:
        raise SpecError(f"{where}.entrypoint {entry.name!r} must be a dag template, as mrargo compile emits")
    if spec.on_exit and spec.template(spec.on_exit).container is None:
        raise SpecError(f"{where}.onExit {spec.on_exit!r} must be a container template, as mrargo compile emits")
    known = {"workflow.name", "workflow.status", *(f"workflow.parameters.{p.name}" for p in spec.parameters)}
    for t in spec.templates:
        tw = f"{where}.templates[{t.name}]"
        if t.container is not None:
            _check_container(t, t.container, tw, known | {f"inputs.parameters.{p.name}" for p in t.inputs})
        else:
            _check_dag(spec, t, tw, known)


def _check_tags(text: str, where: str, known: set[str], item: bool = False) -> None:
    for tag in tags(text, where):
        if tag not in known and not (item and (tag == "item" or tag.startswith("item."))):
            ref = "{{" + tag + "}}"
            raise SpecError(f"{where} uses {ref}, which is not defined there; Argo would fail with: failed to resolve {ref}")


def _check_container(t: Template, c: Container, where: str, known: set[str]) -> None:
    for i, s in enumerate(c.command):
        _check_tags(s, f"{where}.container.command[{i}]", known)
    for i, s in enumerate(c.args):
        _check_tags(s, f"{where}.container.args[{i}]", known)
    for e in c.env:
        _check_tags(e.value, f"{where}.container.env[{e.name}]", known)
    for a in t.artifacts:
        _check_tags(a.data, f"{where}.inputs.artifacts[{a.name}].raw.data", known)
    _check_tags(t.deadline or "", f"{where}.activeDeadlineSeconds", known)
    own = {f"inputs.parameters.{x.name}" for x in t.inputs}
    for p in t.inputs:
        _check_tags(p.value or "", f"{where}.inputs.parameters[{p.name}].value", known - own)


def _check_dag(spec: Spec, t: Template, where: str, known: set[str]) -> None:
    tasks = {x.name: x for x in t.tasks}
    if len(tasks) != len(t.tasks):
        raise SpecError(f"{where}.dag.tasks has two tasks with one name; names must be unique")
    for x in t.tasks:
        xw = f"{where}.dag.tasks[{x.name}]"
        callee = spec.template(x.template)
        if callee.container is None:
            raise SpecError(f"{xw}.template {x.template!r} is a dag; mrargo run does not nest DAGs (mrargo compile never does)")
        for dep, _ in x.depends:
            if dep not in tasks:
                raise SpecError(f"{xw} depends on {dep!r}, which is not a task of this dag")
        given = {p.name for p in x.arguments}
        for p in callee.inputs:
            if p.value is None and p.name not in given:
                raise SpecError(f"{xw}.arguments.parameters lacks {p.name!r}, which template {callee.name!r} requires")
        up = _ancestors(tasks, x.name, xw)
        scope = set(known)
        for a in up:
            if not tasks[a].expands:
                scope |= {f"tasks.{a}.outputs.parameters.{o.name}" for o in spec.template(tasks[a].template).outputs}
        for p in x.arguments:
            _check_tags(p.value or "", f"{xw}.arguments.parameters[{p.name}]", scope, item=x.expands)
        for k, v in ((k, getattr(x.sequence, k)) for k in ("count", "start", "end") if x.sequence):
            _check_tags(v or "", f"{xw}.withSequence.{k}", scope)
        _check_tags(x.with_param or "", f"{xw}.withParam", scope)


def _ancestors(tasks: dict[str, Task], name: str, where: str) -> set[str]:
    seen: set[str] = set()
    todo = [d for d, _ in tasks[name].depends]
    while todo:
        d = todo.pop()
        if d == name:
            raise SpecError(f"{where}: the dag has a cycle through {name!r}")
        if d not in seen:
            seen.add(d)
            todo += [x for x, _ in tasks[d].depends]
    return seen
