"""Checks on compiled Argo specs, shared by the tests.

- ``strict_load``: every document loads into hera's generated models with
  ``extra="forbid"`` on every model, so a misspelt field is an error.
- ``semantic_errors``: what Argo would only find at run time: a task calling
  a missing template, ``{{tasks.X...}}`` naming a task that is not upstream,
  ``{{inputs.parameters.p}}`` that the template does not declare.
- ``simulate``: runs a compiled spec on this machine the way Argo would:
  the DAG in dependency order, withSequence fan-outs, raw input artifacts
  written to files, parameters substituted, output parameters read back,
  the exit handler last.  Every pod is a ``python -m mrargo.worker``
  subprocess started with the command, args and env taken from the spec.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import yaml

TAG = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")
KIND_MODELS = {"Workflow": "Workflow", "WorkflowTemplate": "WorkflowTemplate", "CronWorkflow": "CronWorkflow"}


def load(text: str) -> dict[str, Any]:
    doc = yaml.safe_load(text)
    assert isinstance(doc, dict), "the spec is not one YAML mapping"
    return doc


def spec_of(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["spec"]["workflowSpec"] if doc["kind"] == "CronWorkflow" else doc["spec"]


# -- strict schema ---------------------------------------------------------------


def _forbid_extra_everywhere() -> None:
    """Switch every hera model to extra="forbid" and rebuild the validators.

    Nested models are validated by schemas built into their parents, so the
    config must change on all of them before any is rebuilt.  This mutates
    hera's classes: call it only in a process of its own (see strict_load).
    """
    import hera.workflows.models  # noqa: F401  (load every model class first)
    from hera.shared._pydantic import APIBaseModel

    classes: list[type] = []
    todo: list[type] = [APIBaseModel]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            if sub not in classes:
                classes.append(sub)
                todo.append(sub)
    for cls in classes:
        cls.model_config["extra"] = "forbid"  # type: ignore[attr-defined]
    for cls in classes:
        cls.model_rebuild(force=True)  # type: ignore[attr-defined]


def _strict_main(paths: list[str]) -> int:
    _forbid_extra_everywhere()
    from hera.workflows import models

    bad = 0
    for path in paths:
        with open(path, encoding="utf-8") as f:
            doc = load(f.read())
        model = getattr(models, KIND_MODELS[doc["kind"]])
        try:
            model.model_validate(doc)
            print(f"OK {path}")
        except Exception as e:  # report every file, then fail
            bad += 1
            print(f"{path}: {e}")
    return 1 if bad else 0


def strict_load(paths: list[str]) -> subprocess.CompletedProcess[str]:
    """Validate files with extra="forbid" in a fresh interpreter (it mutates hera)."""
    return subprocess.run([sys.executable, __file__, "strict", *paths], capture_output=True, text=True, timeout=300)


# -- semantic checks -------------------------------------------------------------


def _strings(obj: Any) -> Iterator[str]:
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v)


def _upstream(tasks: dict[str, dict[str, Any]], name: str) -> set[str]:
    seen: set[str] = set()
    todo = list(tasks[name].get("dependencies") or [])
    while todo:
        t = todo.pop()
        if t not in seen:
            seen.add(t)
            todo += tasks.get(t, {}).get("dependencies") or []
    return seen


def semantic_errors(doc: dict[str, Any]) -> list[str]:
    spec = spec_of(doc)
    templates = {t["name"]: t for t in spec["templates"]}
    errors: list[str] = []
    for ref in (spec.get("entrypoint"), spec.get("onExit")):
        if ref and ref not in templates:
            errors.append(f"spec references missing template {ref!r}")
    for tname, t in templates.items():
        declared = {p["name"] for p in (t.get("inputs") or {}).get("parameters") or []}
        for s in _strings({k: v for k, v in t.items() if k != "dag"}):
            for tag in TAG.findall(s):
                if tag.startswith("inputs.parameters.") and tag.split(".", 2)[2] not in declared:
                    errors.append(f"template {tname}: {{{{{tag}}}}} is not declared in inputs.parameters")
        tasks = {x["name"]: x for x in (t.get("dag") or {}).get("tasks") or []}
        for name, task in tasks.items():
            if task.get("template") not in templates:
                errors.append(f"task {name}: template {task.get('template')!r} does not exist")
            for dep in task.get("dependencies") or []:
                if dep not in tasks:
                    errors.append(f"task {name}: dependency {dep!r} is not a task")
            up = _upstream(tasks, name)
            for s in _strings(task):
                for tag in TAG.findall(s):
                    if tag.startswith("tasks.") and tag.split(".")[1] not in up:
                        errors.append(f"task {name}: {{{{{tag}}}}} names a task that is not upstream")
            callee = templates.get(task.get("template"), {})
            wanted = {p["name"] for p in (callee.get("inputs") or {}).get("parameters") or []}
            given = {p["name"] for p in (task.get("arguments") or {}).get("parameters") or []}
            if wanted != given:
                errors.append(f"task {name}: passes {sorted(given)} but template wants {sorted(wanted)}")
    return errors


# -- running a spec locally --------------------------------------------------------


def substitute(text: str, scope: dict[str, str]) -> str:
    def one(m: re.Match[str]) -> str:
        if m.group(1) not in scope:
            raise KeyError(f"unresolved {{{{{m.group(1)}}}}} in {text!r}")
        return scope[m.group(1)]

    return TAG.sub(one, text)


def _order(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    done: list[str] = []
    out: list[dict[str, Any]] = []
    todo = list(tasks)
    while todo:
        ready = [t for t in todo if all(d in done for d in t.get("dependencies") or [])]
        assert ready, "the DAG has a cycle"
        for t in ready:
            todo.remove(t)
            done.append(t["name"])
            out.append(t)
    return out


class Simulator:
    """One workflow run of a compiled spec, with pod mounts mapped to folders."""

    def __init__(self, doc: dict[str, Any], params: dict[str, str], root: str, run: str = "mrargo-test-abcde") -> None:
        self.spec = spec_of(doc)
        self.templates = {t["name"]: t for t in self.spec["templates"]}
        self.globals = {"workflow.name": run}
        for p in self.spec["arguments"]["parameters"]:
            self.globals[f"workflow.parameters.{p['name']}"] = params.get(p["name"], p.get("value", ""))
        self.root = root
        self.pods: list[list[str]] = []  # argv of every pod, for assertions

    def run(self) -> None:
        entry = self.templates[self.spec["entrypoint"]]
        outputs: dict[str, str] = {}
        for task in _order(entry["dag"]["tasks"]):
            scope = dict(self.globals, **outputs)
            items: list[str | None] = [None]
            if "withSequence" in task:
                items = [str(i) for i in range(int(substitute(task["withSequence"]["count"], scope)))]
            for item in items:
                local = dict(scope, item=item or "")
                args = {p["name"]: substitute(p["value"], local) for p in (task.get("arguments") or {}).get("parameters") or []}
                result = self.pod(self.templates[task["template"]], args)
                for k, v in result.items():
                    outputs[f"tasks.{task['name']}.outputs.parameters.{k}"] = v
        if self.spec.get("onExit"):
            self.pod(self.templates[self.spec["onExit"]], {})

    def _mount(self, path: str, pod: str) -> str:
        """Where a pod path lives here: /tmp is the pod's emptyDir, /mrargo its artifacts."""
        for prefix in ("/tmp", "/mrargo"):
            if path == prefix or path.startswith(prefix + "/"):
                return os.path.join(self.root, pod, prefix.strip("/")) + path[len(prefix) :]
        return path

    def pod(self, t: dict[str, Any], arguments: dict[str, str]) -> dict[str, str]:
        pod = f"pod-{len(self.pods):05d}"
        scope = dict(self.globals)
        for p in (t.get("inputs") or {}).get("parameters") or []:
            scope[f"inputs.parameters.{p['name']}"] = arguments[p["name"]]
        for a in (t.get("inputs") or {}).get("artifacts") or []:
            dest = self._mount(a["path"], pod)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with open(dest, "w", encoding="utf-8") as f:
                f.write(substitute(a["raw"]["data"], scope))
        c = t["container"]
        argv = [substitute(x, scope) for x in c["command"] + c["args"]]
        argv = [self._mount(x, pod) for x in argv]
        argv[0] = sys.executable if argv[0] == "python" else argv[0]
        env = {e["name"]: self._mount(substitute(e["value"], scope), pod) for e in c.get("env") or [] if "value" in e}
        env["TMPDIR"] = self._mount("/tmp", pod)
        env["PATH"] = os.environ.get("PATH", "")
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        os.makedirs(env["TMPDIR"], exist_ok=True)
        self.pods.append(argv)
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            raise RuntimeError(f"pod {t['name']} {argv[3:]} exited {proc.returncode}: {proc.stderr}")
        out = {}
        for p in (t.get("outputs") or {}).get("parameters") or []:
            with open(self._mount(p["valueFrom"]["path"], pod), encoding="utf-8") as f:
                out[p["name"]] = f.read()
        return out


if __name__ == "__main__":
    if sys.argv[1:2] == ["strict"]:
        sys.exit(_strict_main(sys.argv[2:]))
    print(json.dumps({"usage": "argo_checks.py strict FILE..."}), file=sys.stderr)
    sys.exit(2)
