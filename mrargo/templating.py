"""mrargo's own files beside the code: the jinja2 templates (templates/, mrargo.templates in a wheel),
the constraints file that pins every dependency, and the source tree of a checkout."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

from mrargo.errors import MrargoError

if TYPE_CHECKING:
    import jinja2

_HERE = os.path.dirname(os.path.abspath(__file__))
CONSTRAINTS = "constraints.txt"


def templates_dir() -> str:
    """templates/ inside the wheel (as mrargo/templates) or beside a source checkout."""
    for d in (os.path.join(_HERE, "templates"), os.path.join(os.path.dirname(_HERE), "templates")):
        if os.path.isfile(os.path.join(d, "Dockerfile.j2")):
            return d
    raise MrargoError("mrargo's templates/ folder is missing from this installation; reinstall mrargo")


def constraints_file() -> str:
    """The constraints file the README, CI and the worker image install with ("" if absent)."""
    path = os.path.join(templates_dir(), CONSTRAINTS)
    return path if os.path.isfile(path) else ""


def project_root() -> str:
    """The source checkout this mrargo runs from (pyproject.toml beside the package), or ""."""
    root = os.path.dirname(_HERE)
    return root if os.path.isfile(os.path.join(root, "pyproject.toml")) and os.path.isdir(os.path.join(root, "templates")) else ""


def yaml_scalar(value: object) -> str:
    """A YAML scalar that loads back to exactly ``value`` (JSON is a YAML subset)."""
    if not isinstance(value, str | int | bool):
        raise TypeError(f"only strings, ints and bools are rendered into YAML, got {type(value).__name__}")
    # ensure_ascii: no raw line breaks of any kind (U+2028, NEL...) reach the YAML.
    return json.dumps(value, ensure_ascii=True)


def environment() -> jinja2.Environment:
    """The one jinja2 environment: strict about undefined names, with a ``yaml`` filter for user values."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir()),
        undefined=jinja2.StrictUndefined,  # a misspelt variable is an error, not ""
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["yaml"] = yaml_scalar
    return env
