"""A fake Kubernetes API server on a loopback port, for `mrargo submit/status/logs` tests.

Why a fake: no cluster exists on the test machines, and building a real
kube-apiserver (Go module proxy) plus etcd and applying Argo's CRDs would
not fit CI's time.  So this HTTP server speaks the Kubernetes REST API for
exactly the calls mrargo makes, with the real client on the other end:

- POST /apis/argoproj.io/v1alpha1/namespaces/NS/workflows   (generateName -> name)
- GET  /apis/argoproj.io/v1alpha1/namespaces/NS/workflows/NAME
- GET  /apis/argoproj.io/v1alpha1/namespaces/NS/workflowtemplates/NAME
- GET  /api/v1/namespaces/NS/pods/POD/log?container=main

It checks the bearer token from the kubeconfig, answers errors as the API
server does (a ``Status`` object), records every request, and can script a
workflow's status over successive GETs (Running with nodes -> Succeeded with
the commit's outputs, or -> Failed).  ``ArgoNodes`` builds ``status.nodes``
the way Argo's controller does: a Retry node per task instance with one Pod
node per attempt, fan-out items named ``map(3:3)``, pods named by Argo's v2
scheme.  What the fake cannot show: Argo's controller itself, admission,
RBAC and real scheduling.
"""

from __future__ import annotations

import json
import random
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN = "fake-token-for-tests"
CUSTOM = re.compile(r"^/apis/argoproj\.io/v1alpha1/namespaces/(?P<ns>[^/]+)/(?P<plural>workflows|workflowtemplates)(?:/(?P<name>[^/]+))?$")
POD_LOG = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/pods/(?P<pod>[^/]+)/log$")


def fnv32a(text: str) -> int:
    """FNV-1a, 32 bits, as Go's hash/fnv (Argo hashes node names with it)."""
    h = 2166136261
    for b in text.encode():
        h = ((h ^ b) * 16777619) % 2**32
    return h


def argo_pod_name(workflow: str, template: str, node_name: str) -> str:
    return f"{workflow}-{template}-{fnv32a(node_name)}"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: Any


@dataclass
class FakeKube:
    """State of the fake API server; start() serves it on 127.0.0.1."""

    workflows: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    templates: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    logs: dict[tuple[str, str, str], str] = field(default_factory=dict)  # (ns, pod, container) -> text
    scripts: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    # Called with a new workflow's name; returns the statuses later GETs show, in order.
    on_create: Callable[[str], list[dict[str, Any]]] | None = None
    requests: list[Request] = field(default_factory=list)
    port: int = 0
    _names: random.Random = field(default_factory=lambda: random.Random(7))
    _server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def do_POST(self) -> None:
                fake._handle(self, "POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kubeconfig(self, path: Path, namespace: str = "jobs", token: str = TOKEN) -> Path:
        path.write_text(
            json.dumps(  # JSON is YAML: the client reads it as a kubeconfig
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
                    "users": [{"name": "tester", "user": {"token": token}}],
                    "contexts": [
                        {"name": "fake", "context": {"cluster": "fake", "user": "tester", "namespace": namespace}},
                        {"name": "other", "context": {"cluster": "fake", "user": "tester", "namespace": "other-ns"}},
                    ],
                    "current-context": "fake",
                }
            )
        )
        return path

    def posted(self) -> list[Request]:
        return [r for r in self.requests if r.method == "POST"]

    # -- the API ------------------------------------------------------------------------

    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        url = urlsplit(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None  # this copy is the server's to change
        headers = {k.lower(): v for k, v in h.headers.items()}
        self.requests.append(Request(method, url.path, parse_qs(url.query), headers, json.loads(raw) if raw else None))
        if h.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._status(h, 401, "Unauthorized", "Unauthorized")
        custom, log = CUSTOM.match(url.path), POD_LOG.match(url.path)
        if custom and method == "POST" and custom["plural"] == "workflows" and not custom["name"]:
            return self._create(h, custom["ns"], body or {})
        if custom and method == "GET" and custom["name"]:
            return self._get(h, custom["ns"], custom["plural"], custom["name"])
        if log and method == "GET":
            container = parse_qs(url.query).get("container", [""])[0]
            text = self.logs.get((log["ns"], log["pod"], container))
            if text is None:
                return self._status(h, 404, "NotFound", f'pods "{log["pod"]}" not found')
            return self._send(h, 200, text.encode(), "text/plain")
        return self._status(h, 404, "NotFound", f"the server could not find the requested resource ({method} {url.path})")

    def _create(self, h: BaseHTTPRequestHandler, ns: str, body: dict[str, Any]) -> None:
        meta = body.setdefault("metadata", {})
        if meta.get("namespace", ns) != ns:
            return self._status(
                h, 400, "BadRequest", "the namespace of the provided object does not match the namespace sent on the request"
            )
        if "name" not in meta:
            suffix = "".join(self._names.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))
            meta["name"] = meta.pop("generateName") + suffix
        meta.update(namespace=ns, uid=f"uid-{meta['name']}", creationTimestamp="2026-01-01T00:00:00Z")
        meta.setdefault("annotations", {})
        self.workflows[(ns, meta["name"])] = body
        if self.on_create:
            self.scripts[(ns, meta["name"])] = self.on_create(meta["name"])
        self._json(h, 201, body)

    def _get(self, h: BaseHTTPRequestHandler, ns: str, plural: str, name: str) -> None:
        store = self.workflows if plural == "workflows" else self.templates
        obj = store.get((ns, name))
        if obj is None:
            return self._status(h, 404, "NotFound", f'{plural}.argoproj.io "{name}" not found')
        script = self.scripts.get((ns, name))
        if script:
            obj["status"] = script.pop(0) if len(script) > 1 else script[0]
        self._json(h, 200, obj)

    def _status(self, h: BaseHTTPRequestHandler, code: int, reason: str, message: str) -> None:
        self._json(h, code, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "reason": reason, "code": code})

    def _json(self, h: BaseHTTPRequestHandler, code: int, obj: Any) -> None:
        self._send(h, code, json.dumps(obj).encode(), "application/json")

    def _send(self, h: BaseHTTPRequestHandler, code: int, data: bytes, ctype: str) -> None:
        h.send_response(code)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)


class ArgoNodes:
    """``status.nodes`` as Argo's controller writes them for a mrargo DAG."""

    def __init__(self, workflow: str) -> None:
        self.workflow = workflow
        self.nodes: dict[str, dict[str, Any]] = {}
        self.clock = 0
        self.root = self._node(workflow, workflow, "DAG", "mapreduce", "Running")

    def _node(self, name: str, display: str, kind: str, template: str, phase: str, **extra: Any) -> dict[str, Any]:
        node_id = f"{self.workflow}-{fnv32a(name)}"
        self.clock += 1
        node = {
            "id": node_id, "name": name, "displayName": display, "type": kind, "templateName": template, "phase": phase,
            "startedAt": f"2026-01-01T00:{self.clock // 60:02d}:{self.clock % 60:02d}Z", "children": [], **extra,
        }  # fmt: skip
        if phase in ("Succeeded", "Failed", "Error"):
            node["finishedAt"] = node["startedAt"]
        self.nodes[node_id] = node
        return node

    def task(
        self,
        task: str,
        template: str,
        attempts: list[tuple[str, str]],
        *,
        index: int | None = None,
        outputs: dict[str, str] | None = None,
    ) -> list[str]:
        """One task instance: a Retry node with a Pod per (phase, message) attempt; returns the pod names."""
        display = task if index is None else f"{task}({index}:{index})"
        name = f"{self.workflow}.{display}"
        phase = attempts[-1][0]
        out = {"outputs": {"parameters": [{"name": k, "value": v} for k, v in outputs.items()]}} if outputs else {}
        retry = self._node(name, display, "Retry", template, phase, **out)
        pods = []
        for i, (attempt_phase, message) in enumerate(attempts):
            pod = self._node(f"{name}({i})", f"{display}({i})", "Pod", template, attempt_phase, message=message, **out)
            retry["children"].append(pod["id"])
            pods.append(argo_pod_name(self.workflow, template, pod["name"]))
        if retry["id"] not in self.root["children"]:  # a task given again replaces its earlier state
            self.root["children"].append(retry["id"])
        return pods

    def status(self, phase: str, message: str = "") -> dict[str, Any]:
        self.root["phase"] = phase
        status: dict[str, Any] = {"phase": phase, "startedAt": "2026-01-01T00:00:00Z", "nodes": json.loads(json.dumps(self.nodes))}
        if phase in ("Succeeded", "Failed", "Error"):
            status["finishedAt"] = "2026-01-01T00:03:05Z"
        if message:
            status["message"] = message
        return status
