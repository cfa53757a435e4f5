"""A new job project from templates/init/ (`mrargo init NAME`), whose test passes at once.

The project holds a word-count job, a pytest test that runs it with
``python -m mrargo run`` on a tiny sample and compares the output to a dict,
the sample, and a README that says how to run it here and on Argo
(``mrargo image build`` bakes it into a worker image).  NAME becomes a
Python module name (``word_count``), a class name (``WordCount``) and a
Kubernetes name (``word-count``), so it is checked against all three before
anything is written.
"""

from __future__ import annotations

import keyword
import os
import re
import sys
from dataclasses import dataclass

from mrargo.errors import UsageError

__all__ = ["Project", "project_names", "write_project"]

NAME = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")
MAX_NAME = 50  # leaves room for "-XXXXX" (generateName) and pod-name suffixes
RESERVED = {"mrargo", "conftest", "setup"}
RESERVED_CLASSES = {"MapReduce", "Step"}  # the job file imports these names

# The sample input and the counts the job must produce from it.  The
# generated test compares against these; tests/test_scaffold.py proves they agree.
SAMPLE = ("the quick brown fox", "jumps over the lazy dog", "the dog sleeps; the fox runs")
EXPECTED = {"the": 4, "quick": 1, "brown": 1, "fox": 2, "jumps": 1, "over": 1, "lazy": 1, "dog": 2, "sleeps": 1, "runs": 1}


@dataclass(frozen=True)
class Project:
    """The names one NAME stands for."""

    name: str  # as given: word-count or word_count
    module: str  # word_count
    class_name: str  # WordCount
    k8s_name: str  # word-count


def project_names(name: str) -> Project:
    if len(name) > MAX_NAME or not NAME.match(name):
        raise UsageError(
            f"NAME {name!r} must be lowercase letters and digits, words joined by '-' or '_', starting with a letter "
            f"and at most {MAX_NAME} characters, e.g. word-count"
        )
    module = name.replace("-", "_")
    if keyword.iskeyword(module) or module in sys.stdlib_module_names or module in RESERVED or module.startswith("test"):
        raise UsageError(f"NAME {name!r} would make a module {module}.py that shadows Python or pytest; choose another name")
    class_name = "".join(part.capitalize() for part in re.split(r"[-_]", name))
    if class_name in RESERVED_CLASSES:
        raise UsageError(f"NAME {name!r} would name the job class {class_name}, which mrargo already uses; choose another name")
    return Project(name=name, module=module, class_name=class_name, k8s_name=name.replace("_", "-"))


def _empty_target(path: str) -> None:
    if os.path.exists(path) and not os.path.isdir(path):
        raise UsageError(f"{path} exists and is not a directory; pass --dir with a new directory")
    if os.path.isdir(path) and os.listdir(path):
        raise UsageError(f"{path} already exists and is not empty; pass --dir with a new or empty directory")


def render_files(project: Project) -> dict[str, str]:
    """Every file of the project, by relative path."""
    from mrargo.templating import environment

    env = environment()
    values = dict(
        name=project.name,
        module=project.module,
        class_name=project.class_name,
        k8s_name=project.k8s_name,
        sample=SAMPLE,
        expected=sorted(EXPECTED.items()),
    )
    return {
        f"{project.module}.py": env.get_template("init/job.py.j2").render(values),
        f"test_{project.module}.py": env.get_template("init/test_job.py.j2").render(values),
        os.path.join("data", "sample.txt"): env.get_template("init/sample.txt.j2").render(values),
        "README.md": env.get_template("init/README.md.j2").render(values),
    }


def write_project(name: str, directory: str = "") -> tuple[Project, str, list[str]]:
    """Write the project; return its names, its folder and the files written."""
    project = project_names(name)
    target = os.path.abspath(directory or name)
    _empty_target(target)
    files = render_files(project)  # render everything before touching the disk
    for rel, text in files.items():
        path = os.path.join(target, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "x", encoding="utf-8") as f:
            f.write(text)
    return project, target, list(files)
