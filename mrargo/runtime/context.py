"""The job instance a task runs, and how user code errors are reported."""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterable
from typing import Any

from mrargo.api import MapReduce, call_all
from mrargo.errors import MrargoError, UserCodeError
from mrargo.loader import resolve_class
from mrargo.plan import Plan

Counters = dict[str, dict[str, int]]


def make_job(plan: Plan) -> MapReduce:
    """Instantiate the job class and give it the run's parameters."""
    _, cls = resolve_class(plan.job)
    try:
        job = cls()
    except Exception as e:
        raise UserCodeError(f"{cls.__name__}() raised {type(e).__name__}: {e}", user_traceback=traceback.format_exc()) from e
    job.params = dict(plan.params)
    job.input_file = None
    return job


def user_counters(job: MapReduce) -> Counters:
    out: Counters = {}
    for (group, name), n in job.__dict__.get("_mrargo_counters", {}).items():
        out.setdefault(group, {})[name] = n
    return out


def merge_counters(into: Counters, more: Counters) -> Counters:
    for group, names in more.items():
        g = into.setdefault(group, {})
        for name, n in names.items():
            g[name] = g.get(name, 0) + int(n)
    return into


def user_error(label: str, what: str, e: BaseException, where: str = "") -> UserCodeError:
    at = f" (input {where})" if where else ""
    return UserCodeError(f"{label}: {what} raised {type(e).__name__}: {e}{at}", user_traceback=traceback.format_exc())


def run_user(label: str, what: str, fn: Callable[[], Any], where: Callable[[], str] = lambda: "") -> Any:
    """Call user code; anything it raises becomes a UserCodeError naming the task."""
    try:
        return fn()
    except MrargoError:
        raise
    except Exception as e:
        raise user_error(label, what, e, where()) from e


def hook(job: MapReduce, name: str | None) -> Iterable[tuple[Any, Any]]:
    """Call an init/final hook by name; a hook may yield pairs or return None."""
    if name is None:
        return ()
    return list(call_all(getattr(job, name)()))
