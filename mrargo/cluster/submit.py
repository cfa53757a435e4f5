"""Submit, follow, inspect: Workflows through the Kubernetes API, with no argo CLI needed.

``submit(document, connection)`` creates a Workflow from a document (a
compiled spec as a dict: mrargo.argo's CompiledSpec.to_dict(), or a
SPEC.yaml read back, or a Workflow that runs a WorkflowTemplate).  The
kubernetes client is imported only when one of these functions runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TextIO

from mrargo.cluster import client, nodes, watch
from mrargo.errors import MrargoError

__all__ = ["LogChunk", "check_document", "follow", "logs", "status_lines", "submit", "template_parameters"]


def check_document(doc: dict[str, Any], where: str) -> dict[str, Any]:
    """A Workflow mrargo can submit, or a one-line error that says what to do instead."""
    kind = doc.get("kind")
    if kind == "WorkflowTemplate":
        name = (doc.get("metadata") or {}).get("name", "NAME")
        raise MrargoError(f"{where} is a WorkflowTemplate: kubectl apply -f {where}, then mrargo submit --from-template {name}")
    if kind != "Workflow" or not isinstance(doc.get("spec"), dict):
        raise MrargoError(f"{where} is not an Argo Workflow (kind {kind!r}); compile one with mrargo compile JOB > {where}")
    meta = doc.setdefault("metadata", {})
    if not (meta.get("name") or meta.get("generateName")):
        raise MrargoError(f"{where} has neither metadata.name nor metadata.generateName; set one")
    return doc


def submit(document: dict[str, Any], conn: client.Connection, namespace: str = "") -> dict[str, Any]:
    """Create the Workflow in ``namespace`` (else the document's, else the connection's); return it as created."""
    body = dict(document)
    body["metadata"] = dict(body.get("metadata") or {})
    namespace = namespace or body["metadata"].get("namespace") or conn.namespace
    body["metadata"]["namespace"] = namespace
    return client.create_workflow(conn, namespace, body)


def follow(conn: client.Connection, namespace: str, name: str, stream: TextIO, poll: float = 2.0) -> dict[str, Any]:
    """Show progress until the workflow finishes; return it; raise the failure if it did not succeed."""
    wf = watch.follow(lambda: client.get_workflow(conn, namespace, name), stream, poll)
    if wf["status"]["phase"] != "Succeeded":
        raise watch.failure_error(wf)
    return wf


def status_lines(wf: dict[str, Any], namespace: str) -> list[str]:
    """What `mrargo status` prints: the phase, a progress line per task, then the result or the failure."""
    name = wf["metadata"]["name"]
    phase = nodes.phase_of(wf)
    status = wf.get("status") or {}
    started = f" (started {status['startedAt']})" if status.get("startedAt") else ""
    lines = [f"workflow {name} in namespace {namespace}: {phase}{started}"]
    if not nodes.nodes_of(wf) and status.get("offloadNodeStatusVersion"):
        lines.append("  node status is offloaded to Argo's database; see it in the Argo UI or with argo get")
    lines += ["  " + line for _, line in nodes.progress_lines(wf)]
    if phase == "Succeeded":
        lines += watch.result_lines(wf)[1:]
    elif phase in nodes.FAILED:
        lines.append(str(watch.failure_error(wf)))
    return lines


@dataclass(frozen=True)
class LogChunk:
    where: str  # "map 3 attempt 1/2, pod NAME"
    phase: str
    text: str | None  # None: the pod is gone or never started


def logs(conn: client.Connection, namespace: str, wf: dict[str, Any], task: str = "") -> Iterator[LogChunk]:
    """The main container's log of every attempt of every task (or of ``task``: map, map-3, commit)."""
    runs = nodes.task_runs(wf)
    if task:
        runs = nodes.select_runs(runs, task)
        if not runs:
            known = sorted({r.task for r in nodes.task_runs(wf)})
            raise MrargoError(
                f"workflow {wf['metadata']['name']} has no task {task!r}; it has {', '.join(known) or 'none yet'} (add -N for item N)"
            )
    for run in runs:
        for i, attempt in enumerate(run.attempts, 1):
            text = client.pod_log(conn, namespace, attempt.pod)
            yield LogChunk(f"{run.label} attempt {i}/{len(run.attempts)}, pod {attempt.pod}", attempt.phase or run.phase, text)


def template_parameters(template: dict[str, Any]) -> list[str]:
    """The parameter names a WorkflowTemplate declares."""
    return [str(p.get("name")) for p in ((template.get("spec") or {}).get("arguments") or {}).get("parameters") or []]

