"""Reading an Argo Workflow's ``status.nodes``: tasks, fan-out progress, counters, failures, pod names.

Pure functions over the Workflow object as the API returns it (a dict), so
`submit --watch`, `status` and `logs` agree and are tested without a cluster.

Argo records one node per DAG task instance.  With a retryStrategy (mrargo
always sets one) that node has type ``Retry`` and one ``Pod`` child per
attempt; without one the ``Pod`` node stands alone.  A fan-out item's
display name is ``map(3:3)``: the task, then ``(index:item)``.  Pods are
named by Argo's v2 scheme (``<workflow>-<template>-<fnv32a(node name)>``)
unless the workflow's ``pod-name-format`` annotation says v1 (the node id).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from mrargo.argo import contract as c
from mrargo.errors import one_line
from mrargo.local.progress import BAR

TERMINAL = ("Succeeded", "Failed", "Error")
FAILED = ("Failed", "Error")
DISPLAY = re.compile(r"^(?P<task>[^(]+)(?:\((?P<index>\d+):.*\))?$", re.DOTALL)

Workflow = dict[str, Any]


@dataclass(frozen=True)
class Attempt:
    pod: str
    phase: str
    message: str


@dataclass(frozen=True)
class TaskRun:
    """One DAG task instance: a retry group or a lone pod."""

    task: str  # the DAG task: map, map-2, commit, cleanup
    index: int | None  # the fan-out item, if any
    template: str
    phase: str
    message: str
    started: str
    finished: str
    attempts: tuple[Attempt, ...]
    outputs: tuple[tuple[str, str], ...]

    @property
    def label(self) -> str:
        """What `mrargo logs --task` accepts: map-3 for item 3 of map, commit for commit."""
        return self.task if self.index is None else f"{self.task}-{self.index}"


@dataclass(frozen=True)
class Fanout:
    task: str
    done: int
    running: int
    failed: int
    total: int


# -- pod names ---------------------------------------------------------------------------


def template_of(node: dict[str, Any]) -> str:
    return str(node.get("templateName") or (node.get("templateRef") or {}).get("template") or "")


def pod_name(workflow: Workflow, node: dict[str, Any]) -> str:
    """The pod Argo made for a Pod node: the node id under the v1 format, else contract.pod_name (v2)."""
    wf_name = workflow["metadata"]["name"]
    version = (workflow["metadata"].get("annotations") or {}).get(c.POD_NAME_FORMAT, "v2")
    template = template_of(node)
    if version == "v1" or not template:
        return str(node["id"])
    return c.pod_name(wf_name, template, str(node["name"]))


# -- task runs -------------------------------------------------------------------------------


def nodes_of(workflow: Workflow) -> dict[str, dict[str, Any]]:
    return dict((workflow.get("status") or {}).get("nodes") or {})


def _outputs(*nodes: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    for node in nodes:
        params = (node.get("outputs") or {}).get("parameters") or []
        if params:
            return tuple((str(p["name"]), str(p.get("value", ""))) for p in params)
    return ()


def _task_and_index(node: dict[str, Any]) -> tuple[str, int | None]:
    display = str(node.get("displayName") or node["name"])
    if display.endswith(".onExit"):  # the exit handler is named after the workflow
        return template_of(node), None
    m = DISPLAY.match(display)
    if not m:
        return display, None
    return m["task"], int(m["index"]) if m["index"] is not None else None


def task_runs(workflow: Workflow) -> list[TaskRun]:
    """Every task instance, in start order."""
    nodes = nodes_of(workflow)
    under_retry = {c for n in nodes.values() if n.get("type") == "Retry" for c in n.get("children") or []}
    runs = []
    for node in nodes.values():
        kind = node.get("type")
        if kind not in ("Retry", "Pod") or node["id"] in under_retry:
            continue
        pods = [nodes[c] for c in node.get("children") or [] if nodes.get(c, {}).get("type") == "Pod"] if kind == "Retry" else [node]
        task, index = _task_and_index(node)
        runs.append(
            TaskRun(
                task=task,
                index=index,
                template=template_of(node),
                phase=str(node.get("phase") or "Pending"),
                message=str(node.get("message") or ""),
                started=str(node.get("startedAt") or ""),
                finished=str(node.get("finishedAt") or ""),
                attempts=tuple(Attempt(pod_name(workflow, p), str(p.get("phase") or ""), str(p.get("message") or "")) for p in pods),
                outputs=_outputs(node, *reversed(pods)),
            )
        )
    return sorted(runs, key=lambda r: (r.started or "~", r.task, -1 if r.index is None else r.index))


def select_runs(runs: list[TaskRun], task: str) -> list[TaskRun]:
    """``map-3`` is item 3 of map; ``map`` (or ``map-2`` of a two-step job) is every item of that task."""
    exact = [r for r in runs if r.label == task]
    return exact or [r for r in runs if r.task == task]


# -- progress ---------------------------------------------------------------------------------


def _count_from(runs: list[TaskRun], task: str, template: str) -> int | None:
    source = c.FAN_OUT.get(template)
    if not source or not task.startswith(template):
        return None
    upstream = source + task[len(template) :]  # map-2 -> split-2
    for r in runs:
        value = dict(r.outputs).get(c.OUT_COUNT)
        if r.task == upstream and value is not None and value.isdigit():
            return int(value)
    return None


def fanouts(workflow: Workflow) -> list[Fanout]:
    """Per DAG task: instances done, running and failed, out of how many."""
    runs = task_runs(workflow)
    groups: dict[str, list[TaskRun]] = {}
    for r in runs:
        groups.setdefault(r.task, []).append(r)
    out = []
    for task, members in groups.items():
        total = _count_from(runs, task, members[0].template)
        out.append(
            Fanout(
                task=task,
                done=sum(r.phase == "Succeeded" for r in members),
                running=sum(r.phase == "Running" for r in members),
                failed=sum(r.phase in FAILED for r in members),
                total=max(total or 0, len(members)),
            )
        )
    return out


def progress_line(f: Fanout, width: int = 12) -> str:
    filled = BAR * f.done // f.total if f.total else 0
    notes = [f"{n} {what}" for n, what in ((f.running, "running"), (f.failed, "failed")) if n]
    tail = f" ({', '.join(notes)})" if notes else ""
    return f"{f.task:<{width}} [{'#' * filled}{'.' * (BAR - filled)}] {f.done}/{f.total}{tail}"


def progress_lines(workflow: Workflow) -> list[tuple[str, str]]:
    """(task, line) pairs; the width fits the longest task name."""
    groups = fanouts(workflow)
    width = max([12, *(len(f.task) for f in groups)])
    return [(f.task, progress_line(f, width)) for f in groups]


# -- results -------------------------------------------------------------------------------------


def phase_of(workflow: Workflow) -> str:
    return str((workflow.get("status") or {}).get("phase") or "Pending")


def counters(workflow: Workflow) -> tuple[dict[str, dict[str, int]], int | None]:
    """The commit task's output parameters: counters {group: {name: n}} and the record count."""
    for r in task_runs(workflow):
        if r.template == "commit" and r.phase == "Succeeded":  # contract.TASKS
            values = dict(r.outputs)
            try:
                found = json.loads(values.get(c.OUT_COUNTERS) or "{}")
            except ValueError:
                found = {}
            records = values.get(c.OUT_RECORDS, "")
            return (found if isinstance(found, dict) else {}), int(records) if records.isdigit() else None
    return {}, None


def parameter(workflow: Workflow, name: str) -> str:
    """A workflow parameter's value: as submitted, else the WorkflowTemplate's default."""
    status = workflow.get("status") or {}
    for spec in (workflow.get("spec") or {}, status.get("storedWorkflowTemplateSpec") or {}):
        for p in (spec.get("arguments") or {}).get("parameters") or []:
            if p.get("name") == name and p.get("value") is not None:
                return str(p["value"])
    return ""


def first_failure(workflow: Workflow) -> tuple[str, str]:
    """(task label, message) of the task that failed first; ("", workflow message) if none did."""
    failed = [r for r in task_runs(workflow) if r.phase in FAILED]
    if failed:
        run = min(failed, key=lambda r: r.finished or "~")
        messages = [a.message for a in run.attempts if a.message] or [run.message]
        return run.label, one_line(messages[-1] or run.phase)
    return "", one_line(str((workflow.get("status") or {}).get("message") or "no message from Argo"))
