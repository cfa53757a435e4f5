"""The node tree of an emulated run, and its rendering as ``argo get`` prints it.

Nodes follow Argo's model (``status.nodes``): a DAG node for the
entrypoint; per task a Pod node, or a Retry node whose children are the
attempts ``name(0)``, ``name(1)``...; per fan-out a TaskGroup whose
children are ``name(0:item)``...; a Skipped node for an empty fan-out.
The rendering follows the argo CLI (cmd/argo/commands/common/get.go):
TaskGroups are not printed (their children sit under the DAG), a Retry
node with one attempt is replaced by that attempt, siblings are ordered by
start time, and the exit handler follows after an empty line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from mrargo.errors import one_line

ICONS = {"Pending": "◷", "Running": "●", "Succeeded": "✔", "Skipped": "○", "Omitted": "○", "Failed": "✖", "Error": "⚠"}
MAX_ROWS = 40  # per DAG; more succeeded siblings are summed up in one row
MAX_VALUE = 300  # longer parameter values show as their length
_INDEX = re.compile(r"\((\d+)(?::[^)]*)?\)$")


@dataclass(frozen=True)
class Node:
    id: str  # Argo's node name: WORKFLOW.task(0:0)(1)
    display: str  # the last part: map(0:0)(1)
    type: str  # DAG | TaskGroup | Retry | Pod | Skipped
    template: str = ""
    phase: str = "Pending"
    message: str = ""
    parent: str = ""
    children: tuple[str, ...] = ()
    started: float | None = None
    finished: float | None = None
    pod: str = ""
    exit_code: int | None = None
    outputs: tuple[tuple[str, str], ...] = ()
    log: str = ""  # the pod's log on this machine, while its folder is kept

    @property
    def duration(self) -> float | None:
        if self.started is None or self.finished is None:
            return None
        return self.finished - self.started


@dataclass(frozen=True)
class NodeTree:
    """A finished run: its phase and every node, in the order they were created."""

    workflow: str
    namespace: str
    phase: str
    message: str
    nodes: tuple[Node, ...]
    root: str
    on_exit: str = ""
    started: float = 0.0
    finished: float = 0.0
    parameters: tuple[tuple[str, str], ...] = ()

    def node(self, node_id: str) -> Node:
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise KeyError(node_id)

    def pods(self) -> list[Node]:
        return [n for n in self.nodes if n.type == "Pod"]

    def failed_pod(self) -> Node | None:
        """The attempt whose failure failed the run: the last attempt of the first node that gave up."""
        given_up = [n for n in self.nodes if n.type in ("Retry", "Pod") and n.phase in ("Failed", "Error") and not _is_attempt(self, n)]
        if not given_up:
            return None
        first = min(given_up, key=lambda n: 0.0 if n.finished is None else n.finished)
        return self.node(first.children[-1]) if first.type == "Retry" and first.children else first

    def error_line(self) -> str:
        """One line for the CLI: which node failed, after how many attempts, and why."""
        pod = self.failed_pod()
        if pod is None:
            return f"workflow {self.workflow} {self.phase}: {one_line(self.message)}"
        parent = self.node(pod.parent) if pod.parent else None
        label, why = pod.display, ""
        if parent is not None and parent.type == "Retry":
            n = len(parent.children)
            label = f"{parent.display} after {n} attempt{'s' if n != 1 else ''}"
            why = f" ({parent.message})" if parent.message else ""
        return f"workflow {self.workflow} {self.phase}: node {label} {pod.phase.lower()}{why}: {one_line(pod.message)}"

    def kept_logs(self) -> list[str]:
        """Logs of the pods podGC kept (failed ones, with OnPodSuccess), for the user to read."""
        return [n.log for n in self.nodes if n.log and n.phase in ("Failed", "Error")]

    def render(self, utf8: bool = True) -> str:
        head = [("Name:", self.workflow), ("Namespace:", self.namespace or "(local)"), ("Status:", self.phase)]
        if self.message:
            head.append(("Message:", one_line(self.message)))
        head.append(("Duration:", _duration(self.finished - self.started)))
        lines = [f"{k:<20} {v}" for k, v in head]
        if self.parameters:
            lines.append("Parameters:")
            lines += [f"  {k + ':':<18} {_param_value(v)}" for k, v in self.parameters]
        rows = [("STEP", "TEMPLATE", "PODNAME", "DURATION", "MESSAGE")]
        rows += list(self._rows(self.root, " ", " ", utf8))
        if self.on_exit:
            rows.append(("", "", "", "", ""))
            rows += list(self._rows(self.on_exit, " ", " ", utf8))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        lines.append("")
        lines += ["  ".join(r[i].ljust(widths[i]) for i in range(4)) + "  " + r[4] for r in rows]
        return "\n".join(line.rstrip() for line in lines) + "\n"

    # -- rows ----------------------------------------------------------------------------

    def _shown_children(self, node: Node) -> list[Node]:
        kids: list[Node] = []
        for c in (self.node(i) for i in node.children):
            kids += [self.node(i) for i in c.children] if c.type == "TaskGroup" else [c]
        return sorted(kids, key=lambda n: (float("inf") if n.started is None else n.started, _index(n.display), n.display))

    def _rows(self, node_id: str, prefix: str, child_prefix: str, utf8: bool) -> Iterator[tuple[str, str, str, str, str]]:
        node = self.node(node_id)
        if node.type == "Retry" and len(node.children) == 1:  # argo get shows the one attempt instead
            yield from self._rows(node.children[0], prefix, child_prefix, utf8)
            return
        icon = ICONS.get(node.phase, "?") if utf8 else node.phase
        is_pod = node.type == "Pod"
        dur = node.duration
        yield (f"{prefix}{icon} {node.display}", node.template, node.pod if is_pod else "",
               _duration(dur) if is_pod and dur is not None else "", one_line(node.message))  # fmt: skip
        kids = self._shown_children(node) if node.type == "DAG" else [self.node(i) for i in node.children]
        hidden = 0
        if len(kids) > MAX_ROWS:
            keep = {k.id for k in kids if k.phase != "Succeeded" or len(k.children) > 1}
            keep |= {k.id for k in kids[: max(0, MAX_ROWS - len(keep))]}
            hidden = len(kids) - len(keep)
            kids = [k for k in kids if k.id in keep]
        for i, kid in enumerate(kids):
            last = i == len(kids) - 1 and not hidden
            part, sub = (("└─", "  ") if last else ("├─", "│ ")) if utf8 else (("`-", "  ") if last else ("|-", "| "))
            yield from self._rows(kid.id, child_prefix + part, child_prefix + sub, utf8)
        if hidden:
            yield (f"{child_prefix}{'└─' if utf8 else '`-'} ... {hidden} more Succeeded", "", "", "", "")


def _is_attempt(tree: NodeTree, n: Node) -> bool:
    return bool(n.parent) and tree.node(n.parent).type == "Retry"


def _index(display: str) -> int:
    m = _INDEX.search(display)
    return int(m.group(1)) if m else -1


def _param_value(value: str) -> str:
    """One line per parameter; the job bundle (base64) is long, so its size stands in for it."""
    if len(value) > MAX_VALUE:
        return f"({len(value)} characters)"
    return ", ".join(value.splitlines()) if "\n" in value else value


def _duration(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"
