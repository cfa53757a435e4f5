"""Run a compiled Argo spec on this machine, as Argo would: ``run_spec(document, parameters, options)``.

The spec itself runs, not the job behind it: the DAG with its
``dependencies``, ``withSequence`` and ``withParam`` fan-outs, parameters
substituted as Argo does, raw input artifacts written to files, output
parameters read back, ``retryStrategy`` (limit, backoff, policy and the
exit-code expression mrargo emits), ``activeDeadlineSeconds`` (of a
template and of the workflow) and the exit handler.  Each pod is a local
process running the container's command, args and env.  Only the subset
of Argo that mrargo compile emits is run; anything else is refused with an
error naming the field.

The parts: spec (read and check the spec), expr (the template language),
items (fan-out items), pod (one pod as a process), dag (the scheduler),
tree (the node tree, printed as ``argo get`` does).

Storage: the work root, where mrargo's tasks keep intermediate data, maps
to ``store`` (default: a temporary folder) unless the parameters give
``work-root``, so a committed spec with an s3:// default runs on a laptop.

What it does not model (README, "Running a spec locally"): images (this
Python and this mrargo stand in for the image), Argo's init and wait
containers, securityContext and resources, Kubernetes scheduling, node
status size, and the service account's rights.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from typing import Any

from mrargo import store
from mrargo.argo import contract
from mrargo.argo.contract import is_spec
from mrargo.errors import UsageError
from mrargo.local import terminate_as_interrupt
from mrargo.specrun.dag import SpecOptions, execute
from mrargo.specrun.expr import SpecError
from mrargo.specrun.spec import load_spec
from mrargo.specrun.tree import NodeTree

__all__ = ["NodeTree", "RunSpecOptions", "SpecError", "SpecOptions", "is_spec", "read_spec", "run_spec"]


@dataclass(frozen=True)
class RunSpecOptions:
    """How to run a spec here: the scheduler's options, and where intermediate data goes."""

    scheduler: SpecOptions = field(default_factory=SpecOptions)
    store: str = ""  # the work root, unless the parameters give one; "" = a temporary folder


def read_spec(path: str) -> dict[str, Any]:
    import yaml

    try:
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
    except OSError as e:
        raise SpecError(f"cannot read spec {path}: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise SpecError(f"spec {path} is not one YAML document: {str(e).splitlines()[0]}") from None
    if not isinstance(doc, dict):
        raise SpecError(f"spec {path} is not a YAML mapping; pass a file written by mrargo compile")
    return doc


def run_spec(document: dict[str, Any], parameters: dict[str, str], options: RunSpecOptions | None = None) -> NodeTree:
    """Run a compiled spec with these workflow parameters; a failed run returns a failed tree.

    Local paths in input, output and work-root are made absolute here: a
    pod runs in a folder of its own.  A temporary work root is removed at
    the end, and on Ctrl-C, with every pod folder.
    """
    opts = options or RunSpecOptions()
    spec = load_spec(document)
    params = _absolute_local_paths(parameters)
    declares_root = any(p.name == contract.PARAM_WORK_ROOT for p in spec.parameters)
    if opts.store and contract.PARAM_WORK_ROOT in params:
        raise UsageError(f"--store and -p {contract.PARAM_WORK_ROOT}= both say where the work root goes; pass one of them")
    if opts.store and not declares_root:
        raise UsageError(f"--store: the spec has no {contract.PARAM_WORK_ROOT!r} parameter, so nothing maps to the store; recompile it")
    made = ""
    if declares_root and contract.PARAM_WORK_ROOT not in params:
        made = "" if opts.store else tempfile.mkdtemp(prefix="mrargo-store-")
        params[contract.PARAM_WORK_ROOT] = store.normalize(opts.store or made)
    try:
        with terminate_as_interrupt():
            return execute(spec, params, opts.scheduler)
    finally:
        # A temporary store has no later: no `argo retry` follows a local run.
        if made:
            shutil.rmtree(made, ignore_errors=True)


def _absolute_local_paths(params: dict[str, str]) -> dict[str, str]:
    """Local paths given with -p are relative to where mrargo runs, not to a pod's folder."""
    out = dict(params)
    for name in (contract.PARAM_INPUT, contract.PARAM_OUTPUT, contract.PARAM_WORK_ROOT):
        if name in out and out[name].strip():
            lines = [ln.strip() for ln in out[name].splitlines() if ln.strip()]
            out[name] = "\n".join(store.normalize(ln) if store.is_local(ln) else ln for ln in lines)
    return out
