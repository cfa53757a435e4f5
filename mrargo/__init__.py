"""mrargo: MapReduce jobs in Python, run locally or compiled to Argo Workflows.

    from mrargo import MapReduce, Step     # write a job
    mrargo.run(Job, inputs, output)        # run it here (mrargo.public)
    mrargo.compile(Job, work_root=...)     # its Argo spec, as YAML
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mrargo.api import MapReduce, Step

if TYPE_CHECKING:
    from mrargo.public import RunResult, compile, run

__all__ = ["MapReduce", "RunResult", "Step", "__version__", "compile", "run"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """run, compile and RunResult load on first use: a job file or a pod that imports mrargo pays nothing for them."""
    if name in ("run", "compile", "RunResult"):
        from mrargo import public

        return getattr(public, name)
    raise AttributeError(f"module 'mrargo' has no attribute {name!r}")
