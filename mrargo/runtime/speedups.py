"""The optional C helpers of mrargo.runtime._speedups, by name.

The C module is built when ``pip install`` finds a compiler.  Every helper
has a Python twin that gives the same bytes; ``speedup(name)`` is None when
the module is missing or ``MRARGO_PURE_PYTHON=1`` asks for the twins.

One source for each hot loop: the C functions are kernels with one
contract each (_speedups.pyi): count or group a bounded number of pairs,
encode and partition a list, sort, merge, pack, decode.  Every decision
around them -- when to check the memory budget, combine, spill, or which
error to raise -- is made in Python, once, for both paths.  (The memory
bug that hid in the C loop's own pair count came from a decision made on
both sides.)  Writing the loops once in Cython's pure-Python mode was the
other way; it would cost the open-addressing counting table, which is
most of the C path's gain, so the kernels stayed.  CI runs the whole suite
with the C module and again with MRARGO_PURE_PYTHON=1.
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
