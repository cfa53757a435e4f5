"""The optional C helpers of mrargo.runtime._speedups, by name.

The C module is built when ``pip install`` finds a compiler.  Every helper
has a Python twin that gives the same bytes; ``speedup(name)`` is None when
the module is missing or ``MRARGO_PURE_PYTHON=1`` asks for the twins (the
tests run both).
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import Any


def _load() -> ModuleType | None:
    try:
        return importlib.import_module("mrargo.runtime._speedups")
    except ImportError:  # pragma: no cover - a build without a compiler
        return None


_c = _load()

PURE = bool(os.environ.get("MRARGO_PURE_PYTHON"))


def built() -> bool:
    """Whether the C module was built and imports."""
    return _c is not None


def speedup(name: str) -> Any:
    """The C helper ``name``, or None: use the Python twin."""
    return None if PURE or _c is None else getattr(_c, name)
