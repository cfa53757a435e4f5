"""Where mrargo's jinja2 templates live: in the wheel or beside a checkout."""

from __future__ import annotations

import os

from mrargo.errors import PlanError


def templates_dir() -> str:
    """templates/ inside the wheel (as mrargo/templates) or beside a source checkout."""
    here = os.path.dirname(os.path.abspath(__file__))
    for d in (os.path.join(here, "templates"), os.path.join(os.path.dirname(here), "templates")):
        if os.path.isfile(os.path.join(d, "Dockerfile.j2")):
            return d
    raise PlanError("mrargo's templates/ folder is missing from this installation; reinstall mrargo")
