"""Fan-out items: ``withSequence`` and ``withParam``, expanded as Argo does.

Reference: https://argo-workflows.readthedocs.io/en/latest/walk-through/loops/
and Argo's expandSequence (workflow/controller/operator.go).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from mrargo.specrun.expr import SpecError, substitute
from mrargo.specrun.spec import Sequence

Items = list[tuple[str, dict[str, str]]]  # (label in the node name, variables such as item)


def sequence_items(seq: Sequence, scope: Mapping[str, str], where: str) -> Items:
    """start..end inclusive (counting down when end < start), or count items from start (default 0)."""

    def number(value: str | None, what: str) -> int | None:
        if value is None:
            return None
        text = substitute(value, scope, f"{where} withSequence.{what}")
        try:
            return int(text)
        except ValueError:
            raise SpecError(f"{where} withSequence.{what} is {text!r}, not a whole number") from None

    start, count, end = number(seq.start, "start") or 0, number(seq.count, "count"), number(seq.end, "end")
    if end is None:
        if not count or count < 0:
            return []
        end = start + count - 1
    step = 1 if start <= end else -1
    values = list(range(start, end + step, step))
    if count is not None and seq.end is not None:
        values = values[:count]  # with both, count limits the items (Argo 3.6+)
    return [(str(v), {"item": str(v)}) for v in values]


def param_items(text: str, where: str) -> Items:
    """A JSON list; strings are items as they are, other values their JSON, objects also give {{item.KEY}}."""
    try:
        items = json.loads(text)
    except ValueError:
        items = None
    if not isinstance(items, list):
        raise SpecError(f"{where} withParam must be a JSON list, got {text[:60]!r}")
    out: Items = []
    for item in items:
        if isinstance(item, str):
            out.append((item, {"item": item}))
        elif isinstance(item, dict):
            values = {f"item.{k}": v if isinstance(v, str) else json.dumps(v) for k, v in item.items()}
            label = ",".join(f"{k}:{v}" for k, v in sorted(item.items()))
            out.append((label, {"item": json.dumps(item, sort_keys=True), **values}))
        else:
            out.append((json.dumps(item), {"item": json.dumps(item)}))
    return out
