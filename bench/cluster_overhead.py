"""Per-task overhead of a compiled mrargo workflow on the real test cluster: pod phases, worker start-up, S3 requests.

    eval "$(tests/e2e/cluster.sh up)"
    .venv/bin/python bench/cluster_overhead.py --runs 3 [--out FILE]

Each run compiles examples/wordcount.py for 3 input files of 0.9 MB
(``--split-mb 1``: 3 map tasks) and 2 reducers, submits it with
``argo submit - --wait`` and reads what the cluster recorded while it ran:

- the workflow controller's log: when it created each pod (ms);
- containerd's log: when each pod's sandbox was ready and each container
  (init, wait, main) started and exited (ns).  Pod ``creationTimestamp``
  and ``containerStatuses`` give whole seconds only, and podGC deletes
  succeeded pods as they finish;
- moto's log (``s3.log``): every S3 request, in order, in whole seconds.

The runs use ``--parallelism 1``: one pod at a time, so every S3 request
belongs to the pod whose Argo log upload (``PUT .../POD/main.log``, the
last request of a pod) follows it, and no pod's phases are stretched by
another pod on the 2 cores.  As many runs of a 3-pod "noop" workflow (the
worker image, main ``python -c pass``) give Argo's and Kubernetes' floor.
The worker's imports are timed in a one-off pod of the worker image.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
sys.path.insert(0, BENCH)
from machine import describe  # noqa: E402  (bench/ is not a package)

MRARGO = os.path.join(REPO, ".venv", "bin", "mrargo")
JOB = os.path.join(REPO, "examples", "wordcount.py")
DATA = os.path.join(REPO, "examples", "data")
NEEDED = ("KUBECONFIG", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "MRARGO_E2E_NAMESPACE",
          "MRARGO_E2E_BUCKET", "MRARGO_E2E_IMAGE", "MRARGO_E2E_S3_ENDPOINT", "MRARGO_E2E_S3_SECRET")  # fmt: skip
FILES, FILE_BYTES, REDUCERS = 3, 900_000, 2  # under --split-mb 1, each file is a split of its own
TASK_ORDER = ("noop", "split", "map", "shuffle", "reduce", "commit", "cleanup")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass(frozen=True)
class Cluster:
    env: dict[str, str]
    logs: str  # .e2e/run/logs

    @staticmethod
    def from_env() -> Cluster:
        missing = [v for v in NEEDED if not os.environ.get(v)]
        if missing:
            raise SystemExit(f'bench/cluster_overhead.py: {missing[0]} is not set; run: eval "$(tests/e2e/cluster.sh up)"')
        logs = os.path.join(os.environ.get("MRARGO_E2E_DIR", os.path.join(REPO, ".e2e")), "run", "logs")
        if not os.path.exists(os.path.join(logs, "s3.log")):
            raise SystemExit(f"bench/cluster_overhead.py: no {logs}/s3.log; is the test cluster up (tests/e2e/cluster.sh status)?")
        return Cluster(dict(os.environ), logs)

    def run(self, argv: Sequence[str], stdin: str = "", timeout: float = 600) -> str:
        done = subprocess.run(argv, input=stdin, capture_output=True, text=True, env=self.env, timeout=timeout, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[:3])} exited {done.returncode}: {(done.stderr or done.stdout).strip()[-400:]}")
        return done.stdout

    def kubectl(self, *args: str, stdin: str = "") -> str:
        return self.run(["kubectl", "-n", self.env["MRARGO_E2E_NAMESPACE"], *args], stdin)


class LogTail:
    """What a log file gains from now on: the measurement reads only its own run's lines."""

    def __init__(self, path: str) -> None:
        self.path, self.offset = path, os.path.getsize(path)

    def lines(self) -> list[str]:
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            return f.read().decode("utf-8", "replace").splitlines()


# -- one run -----------------------------------------------------------------------------------


@dataclass
class Pod:
    name: str
    task: str
    times: dict[str, datetime] = field(default_factory=dict)  # created, sandbox, {init,wait,main}_{start,end}
    requests: list[tuple[datetime, str, str]] = field(default_factory=list)  # (time, method, what)


@dataclass(frozen=True)
class Run:
    workflow: str
    wall_s: float
    pods: list[Pod]  # in creation order
    unattributed: int  # S3 requests after the last pod's log upload


def upload_inputs(cluster: Cluster, prefix: str) -> Any:
    """3 files of examples/data's lines, repeated to 0.9 MB each; returns the s3fs filesystem."""
    import s3fs

    fs = s3fs.S3FileSystem(key=cluster.env["AWS_ACCESS_KEY_ID"], secret=cluster.env["AWS_SECRET_ACCESS_KEY"],
                           endpoint_url=cluster.env["AWS_ENDPOINT_URL"], skip_instance_cache=True)  # fmt: skip
    for name in sorted(os.listdir(DATA))[:FILES]:
        with open(os.path.join(DATA, name), "rb") as f:
            text = f.read()
        fs.pipe_file(f"{prefix}/in/{name}", (text * (FILE_BYTES // len(text) + 1))[:FILE_BYTES].rsplit(b"\n", 1)[0] + b"\n")
    return fs


def run_once(cluster: Cluster, prefix: str, n: int) -> Run:
    env = cluster.env
    spec = cluster.run([MRARGO, "compile", JOB, "-i", f"s3://{prefix}/in/", "-o", f"s3://{prefix}/out-{n}",
                        "--work-root", f"s3://{prefix}/work", "--image", env["MRARGO_E2E_IMAGE"],
                        "--s3-endpoint", env["MRARGO_E2E_S3_ENDPOINT"], "--s3-secret", env["MRARGO_E2E_S3_SECRET"],
                        "--split-mb", "1", "--reducers", str(REDUCERS), "--parallelism", "1"])  # fmt: skip
    return submit(cluster, spec, prefix)


def baseline_once(cluster: Cluster, prefix: str) -> Run:
    """Argo's floor: 3 pods in a row of the same image and security context, whose main is `python -c pass`."""
    noop = {"name": "noop", "container": {"image": cluster.env["MRARGO_E2E_IMAGE"], "imagePullPolicy": "IfNotPresent",
                                          "command": ["python", "-c", "pass"]}}  # fmt: skip
    spec = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"generateName": "bench-noop-"},
            "spec": {"entrypoint": "main", "serviceAccountName": "mrargo", "parallelism": 1,
                     "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
                     "templates": [{"name": "main", "steps": [[{"name": f"s{i}", "template": "noop"}] for i in range(3)]}, noop]}}  # fmt: skip
    return submit(cluster, json.dumps(spec), prefix)


def submit(cluster: Cluster, spec: str, prefix: str) -> Run:
    """`argo submit - --wait`, then what the controller, containerd and moto logged meanwhile."""
    tails = {name: LogTail(os.path.join(cluster.logs, f"{name}.log")) for name in ("workflow-controller", "containerd", "s3")}
    start = time.perf_counter()
    name = cluster.run(["argo", "submit", "-", "--wait", "-o", "name"], stdin=spec).strip().splitlines()[0]
    wall = time.perf_counter() - start
    phase = cluster.run(["argo", "get", name, "-o", "json"])
    if json.loads(phase)["status"]["phase"] != "Succeeded":
        raise RuntimeError(f"workflow {name} did not succeed; see: argo get {name}")
    time.sleep(2)  # containerd logs the wait container's exit a moment after Argo saw it
    pods = created_pods(tails["workflow-controller"].lines(), name)
    container_times(tails["containerd"].lines(), pods)
    left = attribute_requests(tails["s3"].lines(), pods, cluster.env["MRARGO_E2E_BUCKET"], name, prefix)
    cluster.run(["argo", "delete", name])
    return Run(name, wall, sorted(pods.values(), key=lambda p: p.times["created"]), left)


def _utc(stamp: str) -> datetime:
    """RFC 3339 with up to 9 fractional digits (Go's), to a datetime (6)."""
    stamp = stamp.rstrip("Z")
    head, _, frac = stamp.partition(".")
    return datetime.fromisoformat(f"{head}.{(frac + '000000')[:6]}+00:00")


def created_pods(lines: Iterable[str], workflow: str) -> dict[str, Pod]:
    """The controller's "Created pod" lines of this workflow: pod name, task template, time."""
    pods: dict[str, Pod] = {}
    for line in lines:
        if 'msg="Created pod"' in line and f"workflow={workflow} " in line + " ":
            t, pod = re.search(r"time=(\S+)", line), re.search(r"podName=(\S+)", line)
            if t and pod:
                task = pod[1][len(workflow) + 1 :].rsplit("-", 1)[0]  # {workflow}-{template}-{hash}
                pods[pod[1]] = Pod(pod[1], task, {"created": _utc(t[1])})
    return pods


SANDBOX = re.compile(r'RunPodSandbox for &PodSandboxMetadata\{Name:([^,]+),.*returns sandbox id \\"(\w+)\\"')
CREATED = re.compile(r'CreateContainer within sandbox \\"(\w+)\\" for &ContainerMetadata\{Name:(\w+),.*returns container id \\"(\w+)\\"')
STARTED = re.compile(r'StartContainer for \\"(\w+)\\" returns successfully')
EXITED = re.compile(r'msg="shim disconnected" id=(\w+)')


def container_times(lines: Iterable[str], pods: dict[str, Pod]) -> None:
    """Sandbox ready and each container's start and exit, from containerd's own log."""
    sandboxes: dict[str, Pod] = {}
    containers: dict[str, tuple[Pod, str]] = {}
    for line in lines:
        t = re.match(r'time="([^"]+)"', line)
        if not t:
            continue
        if m := SANDBOX.search(line):
            if m[1] in pods:
                sandboxes[m[2]] = pods[m[1]]
                pods[m[1]].times["sandbox"] = _utc(t[1])
        elif (m := CREATED.search(line)) and m[1] in sandboxes:
            containers[m[3]] = (sandboxes[m[1]], m[2])
        elif (m := STARTED.search(line) or EXITED.search(line)) and m[1] in containers:
            pod, name = containers[m[1]]
            pod.times.setdefault(f"{name}_{'start' if 'StartContainer' in line else 'end'}", _utc(t[1]))


S3_LINE = re.compile(r'\[(\d\d/\w{3}/\d{4} \d\d:\d\d:\d\d)\] "(\w+) (\S+) HTTP/[\d.]+" (\d+)')


def attribute_requests(lines: Iterable[str], pods: dict[str, Pod], bucket: str, workflow: str, prefix: str) -> int:
    """Give each S3 request to its pod: the requests before a pod's log upload are that pod's (parallelism 1)."""
    pending: list[tuple[datetime, str, str]] = []
    for line in lines:
        m = S3_LINE.search(ANSI.sub("", line))
        if not m:
            continue
        when = datetime.strptime(m[1], "%d/%b/%Y %H:%M:%S").astimezone(timezone.utc)  # moto logs local time
        method, what = classify(m[2], m[3], bucket, workflow, prefix)
        pending.append((when, method, what))
        log = re.fullmatch(rf"/{re.escape(bucket)}/{re.escape(workflow)}/([^/]+)/main\.log", m[3])
        if m[2] == "PUT" and log and log[1] in pods:
            pods[log[1]].requests += pending
            pending = []
    return len(pending)


WORK_KEYS = (  # the layout of mrargo/runtime/layout.py, under {work-root}/{workflow}/
    (r"bundle\.mrargo", "bundle"),
    (r"step-\d+/splits\.json", "split list"),
    (r"step-\d+/map/\d+\.json", "map marker"),
    (r"step-\d+/map/\d+\.\w+\.(run|part)", "map data"),
    (r"step-\d+/shuffle/\d+\.json", "partition list"),
    (r"step-\d+/shuffle\.json", "step summary"),
    (r"step-\d+/reduce/\d+\.json", "reduce marker"),
    (r"step-\d+/reduce/\d+\.\w+\.(run|part)", "reduce data"),
)


def classify(method: str, target: str, bucket: str, workflow: str, prefix: str) -> tuple[str, str]:
    """(HEAD/GET/LIST/PUT/DELETE/POST, what the request is about) from its method and URL; ``prefix`` is the bench's, with the bucket."""
    url = urlsplit(target)
    query = parse_qs(url.query, keep_blank_values=True)
    if "location" in query or url.path.endswith("/main.log"):
        return method, "Argo log upload"
    listing = method == "GET" and "list-type" in query
    key = unquote(query["prefix"][0]) if listing and "prefix" in query else unquote(url.path).lstrip("/")
    key = key[len(bucket) + 1 :] if key.startswith(f"{bucket}/") else key
    ours = prefix.split("/", 1)[1]
    what = "other"
    if key.startswith(f"{ours}/work/{workflow}"):
        rest = key[len(f"{ours}/work/{workflow}") :].strip("/")
        what = next((name for pattern, name in WORK_KEYS if re.fullmatch(pattern, rest)), "work folder")
    elif key.startswith(f"{ours}/in"):
        what = "input"
    elif key.startswith(f"{ours}/out"):
        what = "output"
    return ("LIST" if listing else method), what


# -- the worker's imports, in its image ----------------------------------------------------------

IMPORTS = {"python -c pass": "pass", "import mrargo.worker": "import mrargo.worker", "import s3fs": "import s3fs",
           "import mrargo.worker, s3fs": "import mrargo.worker, s3fs"}  # fmt: skip
# Runs inside the pod: each command's wall time, then its -X importtime report, `reps` times.
IN_POD = """import json, subprocess, sys, time
out = {}
for label, code in %r.items():
    walls, reports = [], []
    for _ in range(%d):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        walls.append(time.perf_counter() - t)
        reports.append(subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, check=True).stderr)
    out[label] = {"walls": walls, "reports": reports}
print(json.dumps(out))
"""


def time_imports(cluster: Cluster, reps: int) -> dict[str, dict[str, list[Any]]]:
    """Run IN_POD in a pod of the worker image, secured as a workflow's main container is."""
    name = f"bench-imports-{uuid.uuid4().hex[:6]}"
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
           "spec": {"restartPolicy": "Never", "hostNetwork": True, "automountServiceAccountToken": False,
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [{"name": "main", "image": cluster.env["MRARGO_E2E_IMAGE"], "imagePullPolicy": "Never",
                                    "command": ["python", "-c", IN_POD % (IMPORTS, reps)], "volumeMounts": [{"name": "scratch", "mountPath": "/tmp"}],
                                    "securityContext": {"readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}],
                    "volumes": [{"name": "scratch", "emptyDir": {}}]}}  # fmt: skip
    cluster.kubectl("create", "-f", "-", stdin=json.dumps(pod))
    try:
        deadline = time.monotonic() + 300
        while (phase := cluster.kubectl("get", "pod", name, "-o", "jsonpath={.status.phase}")) not in ("Succeeded", "Failed"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"pod {name} is still {phase or 'Pending'} after 300 s")
            time.sleep(2)
        logs = cluster.kubectl("logs", name)
        if phase != "Succeeded":
            raise RuntimeError(f"pod {name} failed: {logs.strip()[-400:]}")
        result: dict[str, dict[str, list[Any]]] = json.loads(logs.strip().splitlines()[-1])
        return result
    finally:
        cluster.kubectl("delete", "pod", name, "--wait=false")


def import_costs(reports: Sequence[str]) -> list[tuple[str, int, float, float]]:
    """(module, import depth, median self ms, median cumulative ms) over ``-X importtime`` reports, by cumulative time."""
    costs: dict[tuple[str, int], list[tuple[float, float]]] = defaultdict(list)
    for report in reports:
        for line in report.splitlines():
            m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \| ( *)(\S+)", line)
            if m:
                costs[(m[4], len(m[3]) // 2)].append((int(m[1]) / 1000, int(m[2]) / 1000))
    rows = [(name, depth, statistics.median(s for s, _ in v), statistics.median(c for _, c in v)) for (name, depth), v in costs.items()]
    return sorted(rows, key=lambda r: -r[3])


# -- the report ----------------------------------------------------------------------------------

PHASES = (  # (label, from, to); the S3 ones come from whole-second times
    ("created → sandbox ready", "created", "sandbox"),
    ("sandbox → init start", "sandbox", "init_start"),
    ("init (Argo: values)", "init_start", "init_end"),
    ("init end → main start", "init_end", "main_start"),
    ("main start → first S3 request*", "main_start", "s3_first"),
    ("main start → first data read*", "main_start", "s3_data"),
    ("main run", "main_start", "main_end"),
    ("main end → pod end (wait)", "main_end", "wait_end"),
    ("pod total", "created", "wait_end"),
    ("pod end → next pod created", "wait_end", "next_created"),
)
DATA_READ = {"map": "input", "reduce": "map data"}  # a task's first record comes from these objects


def add_derived(run: Run) -> None:
    """S3 first-request times (the middle of moto's whole second) and the next pod's creation."""
    for pod, nxt in zip(run.pods, [*run.pods[1:], None], strict=True):
        worker = [t for t, _, what in pod.requests if what != "Argo log upload"]
        if worker:
            pod.times["s3_first"] = _mid(worker[0])
        data = [t for t, method, what in pod.requests if what == DATA_READ.get(pod.task) and method == "GET"]
        if data:
            pod.times["s3_data"] = _mid(data[0])
        if nxt is not None:
            pod.times["next_created"] = nxt.times["created"]


def _mid(t: datetime) -> datetime:
    return t.replace(microsecond=500_000)


def _median(values: Sequence[float], fmt: str = "{:.2f}") -> str:
    return fmt.format(statistics.median(values)) if values else "–"


def phase_table(runs: Sequence[Run]) -> list[str]:
    by_task: dict[str, list[Pod]] = defaultdict(list)
    for run in runs:
        for pod in run.pods:
            by_task[pod.task].append(pod)
    tasks = [t for t in TASK_ORDER if t in by_task]
    lines = ["| phase (median s) | " + " | ".join(f"{t} ({len(by_task[t])})" for t in tasks) + " |", "| --- |" + " ---: |" * len(tasks)]
    for label, a, b in PHASES:
        cells = []
        for t in tasks:
            gaps = [(p.times[b] - p.times[a]).total_seconds() for p in by_task[t] if a in p.times and b in p.times]
            cells.append(_median(gaps))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def s3_table(runs: Sequence[Run]) -> list[str]:
    per_task: dict[str, list[Counter[tuple[str, str]]]] = defaultdict(list)
    for run in runs:
        for pod in run.pods:
            per_task[pod.task].append(Counter((what, method) for _, method, what in pod.requests))
    lines = ["| task (pods) | mrargo requests | of which HEAD / GET / LIST / PUT / other | Argo's | mrargo's, by object (median) |",
             "| --- | ---: | ---: | ---: | --- |"]  # fmt: skip
    for task in (t for t in TASK_ORDER if t in per_task):
        counts = per_task[task]
        mine = [Counter({k: v for k, v in c.items() if k[0] != "Argo log upload"}) for c in counts]
        total = [sum(c.values()) for c in mine]
        argo = [sum(v for k, v in c.items() if k[0] == "Argo log upload") for c in counts]
        methods = [_median([sum(v for k, v in c.items() if k[1] == m) for c in mine], "{:g}") for m in ("HEAD", "GET", "LIST", "PUT")]
        other = _median([sum(v for k, v in c.items() if k[1] not in ("HEAD", "GET", "LIST", "PUT")) for c in mine], "{:g}")
        objects = []
        for what in sorted({w for c in mine for w, _ in c}):
            counts_of = [(m, _median([c[(what, m)] for c in mine], "{:g}")) for m in sorted({m for c in mine for w, m in c if w == what})]
            objects.append(f"{what}: " + " + ".join(f"{n} {m}" for m, n in counts_of))
        objects_text = "; ".join(objects)
        lines.append(
            f"| {task} ({len(counts)}) | {_median(total, '{:g}')} | {' / '.join(methods)} / {other} | {_median(argo, '{:g}')} | {objects_text} |"
        )
    return lines


def report(runs: Sequence[Run], baseline: Sequence[Run], imports: dict[str, dict[str, list[Any]]] | None, top: int) -> str:
    out = ["## Setup", ""]
    out += [f"- {k}: {v}" for k, v in describe().items()]
    maps = statistics.median(sum(p.task == "map" for p in r.pods) for r in runs)
    out += [f"- job: examples/wordcount.py, {FILES} files of {FILE_BYTES / 1e6:.1f} MB, `--split-mb 1` ({maps:g} maps), "
            f"`--reducers {REDUCERS}`, `--parallelism 1`; {len(runs)} runs", ""]  # fmt: skip
    walls = [r.wall_s for r in runs]
    busy = [sum((p.times["wait_end"] - p.times["created"]).total_seconds() for p in r.pods if "wait_end" in p.times) for r in runs]
    out += ["## Workflow", "", "| measure (median over runs) | s |", "| --- | ---: |",
            f"| `argo submit - --wait`, wall | {_median(walls)} |",
            f"| sum of pod totals (created → wait container exit) | {_median(busy)} |",
            f"| the rest: controller between pods, submit, wait | {_median([w - b for w, b in zip(walls, busy, strict=True)])} |", ""]  # fmt: skip
    for run in [*runs, *baseline]:
        add_derived(run)
    out += ["## Pod phases", "", *phase_table([*baseline, *runs]), "",
            "Columns: task (pods over all runs); noop is Argo's floor: a workflow of 3 pods in a row of the worker image, "
            "main `python -c pass`.  Times from the controller's log (pod created) and containerd's (sandbox, "
            "container start and exit).  *From moto's log, whose times are whole seconds: each request is put at the middle "
            "of its second, so a single value is ±0.5 s.  First data read: a map's first GET of its input, a reducer's first "
            "GET of a map output.", ""]  # fmt: skip
    out += ["## S3 requests per pod", "", *s3_table([*baseline, *runs]), ""]
    left = sum(r.unattributed for r in [*runs, *baseline])
    if left:
        out += [f"{left} request(s) came after the last pod's log upload and are not counted.", ""]
    if imports:
        out += ["## Worker start-up in the worker image", "", "| command (python in the image) | wall ms (median) |", "| --- | ---: |"]
        out += [f"| `{label}` | {_median([w * 1000 for w in r['walls']], '{:.0f}')} |" for label, r in imports.items()]
        worker = import_costs(imports["import mrargo.worker, s3fs"]["reports"])
        out += ["", f"`-X importtime` of `import mrargo.worker, s3fs` (what every task imports before its first S3 request), "
                f"top {top} by cumulative time; depth 0 is imported by the command itself:", "",
                "| module | depth | self ms | cumulative ms |", "| --- | ---: | ---: | ---: |"]  # fmt: skip
        out += [f"| {name} | {depth} | {s:.1f} | {c:.1f} |" for name, depth, s, c in worker[:top]]
        out += ["", "Top 10 by self time:", "", "| module | depth | self ms |", "| --- | ---: | ---: |"]
        out += [f"| {name} | {depth} | {s:.1f} |" for name, depth, s, _ in sorted(worker, key=lambda r: -r[2])[:10]]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench/cluster_overhead.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3, help="workflow runs (default: 3); medians are over them")
    parser.add_argument("--import-reps", type=int, default=5, help="runs of each import command in the image pod (default: 5)")
    parser.add_argument("--top", type=int, default=20, help="import rows to show (default: 20)")
    parser.add_argument("--out", help="also write the Markdown report here")
    args = parser.parse_args(argv)
    cluster = Cluster.from_env()
    prefix = f"{cluster.env['MRARGO_E2E_BUCKET']}/bench-overhead-{uuid.uuid4().hex[:6]}"
    fs = upload_inputs(cluster, prefix)
    try:
        runs = [run_once(cluster, prefix, n) for n in range(args.runs)]
        baseline = [baseline_once(cluster, prefix) for _ in range(args.runs)]
        imports = time_imports(cluster, args.import_reps) if args.import_reps else None
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        print(f"bench/cluster_overhead.py: {e}", file=sys.stderr)
        return 1
    finally:
        fs.rm(prefix, recursive=True)  # after the logs were read: these requests are nobody's
    text = report(runs, baseline, imports, args.top)
    print(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
