"""The size of a running workflow object as Argo's controller stores it, for a job of any fan-out.

Argo keeps every node of a run in ``status.nodes`` (workflow_types.go
NodeStatus): per fan-out item a Retry node and a Pod node per attempt,
each with a copy of the template's inputs (raw artifact data included).
Before each save, the controller measures ``len(json.Marshal(wf))``; over
``MAX_WORKFLOW_SIZE`` (1 MiB) it replaces ``status.nodes`` with
``status.compressedNodes``, base64 of the gzipped JSON, and measures again
(workflow/packer/packer.go, util/file/fileutil.go).  Still over, and with
no node-status offloading, the workflow goes to Error.

The nodes here are grown from a real run of examples/topwords.py on the
test cluster (tests/data/argo-topwords-workflow.json, Argo v4.0.5): its
step-1 fan-outs are replaced by ``maps`` and ``reducers`` items whose
nodes are those of the run, renamed as Argo names them.  The e2e tests
check the growth against the controller (tests/e2e/test_jobs.py).
"""

from __future__ import annotations

import base64
import copy
import gzip
import json
import os
import re
from datetime import datetime, timedelta
from typing import Any

from mrargo.argo.contract import fnv32a

SAMPLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "argo-topwords-workflow.json")
MAX_WORKFLOW_SIZE = 1 << 20


def load_sample() -> dict[str, Any]:
    with open(SAMPLE, encoding="utf-8") as f:
        return dict(json.load(f))


def _compact(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def compressed_nodes(nodes: dict[str, Any]) -> str:
    return base64.b64encode(gzip.compress(_compact(nodes), compresslevel=6, mtime=0)).decode()


def stored_size(wf: dict[str, Any]) -> int:
    """What the packer compares with MAX_WORKFLOW_SIZE once it has compressed the nodes."""
    packed = copy.deepcopy(wf)
    packed["status"]["compressedNodes"] = compressed_nodes(packed["status"].pop("nodes"))
    return len(_compact(packed))


def grown(wf: dict[str, Any], task: str, items: int, attempts: int = 1) -> dict[str, Any]:
    """The workflow with the fan-out ``task`` (e.g. "map-1") at ``items`` items of ``attempts`` pods each."""
    wf = copy.deepcopy(wf)
    name = wf["metadata"]["name"]
    nodes: dict[str, Any] = wf["status"]["nodes"]
    group = next(n for n in nodes.values() if n["type"] == "TaskGroup" and n["displayName"] == task)
    retry = nodes[group["children"][0]]
    pod = nodes[retry["children"][0]]
    for child in group["children"]:
        for grandchild in nodes[child].get("children", []):
            nodes.pop(grandchild, None)
        nodes.pop(child)
    group["children"] = []
    for i in range(items):
        r = _renamed(retry, name, f"{task}({i}:{i})", i)
        r["children"] = []
        for a in range(attempts):
            p = _renamed(pod, name, f"{task}({i}:{i})({a})", i)
            r["children"].append(p["id"])
            nodes[p["id"]] = p
        nodes[r["id"]] = r
        group["children"].append(r["id"])
    return wf


def _varied(n: dict[str, Any], index: int) -> None:
    """Times and resource use differ from pod to pod, as on a real run: they cost gzip the most."""
    spread = fnv32a(str(index))
    for key, most in (("startedAt", 7), ("finishedAt", 97)):
        if key in n:
            t = datetime.fromisoformat(n[key].replace("Z", "+00:00")) + timedelta(seconds=spread % most)
            n[key] = t.strftime("%Y-%m-%dT%H:%M:%SZ")
    if "resourcesDuration" in n:
        n["resourcesDuration"] = {"cpu": 1 + spread % 3, "memory": 10 + spread % 37}


def _renamed(node: dict[str, Any], workflow: str, display: str, index: int) -> dict[str, Any]:
    n = copy.deepcopy(node)
    _varied(n, index)
    full = f"{workflow}.{display}"
    old_id = n["id"]
    n["name"], n["displayName"], n["id"] = full, display, f"{workflow}-{fnv32a(full)}"
    for p in (n.get("inputs") or {}).get("parameters") or []:
        if p["name"] == "index":
            p["value"] = str(index)
    text = json.dumps(n)
    old_hash = old_id.rsplit("-", 1)[1]
    return dict(json.loads(re.sub(rf"\b{old_hash}\b", str(fnv32a(full)), text)))
