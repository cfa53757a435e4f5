"""Checks on compiled Argo specs, shared by the tests.

``strict_load``: every document loads into hera's generated models with
``extra="forbid"`` on every model, so a misspelt field is an error.  What
Argo would only find at run time (a missing template, a reference to a task
that is not upstream) is mrargo's own spec runner's job: mrargo.specrun's
load_spec checks it, and run_spec runs the spec.
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


if __name__ == "__main__":
    if sys.argv[1:2] == ["strict"]:
        sys.exit(_strict_main(sys.argv[2:]))
    print(json.dumps({"usage": "argo_checks.py strict FILE..."}), file=sys.stderr)
    sys.exit(2)
