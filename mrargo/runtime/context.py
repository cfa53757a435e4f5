"""The job instance a task runs, calls into user code, and how their errors are reported."""

from __future__ import annotations

import functools
import gc
import inspect
import traceback
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from mrargo.errors import MrargoError, UserCodeError
from mrargo.plan.loader import Counters, counters_of, new_job
from mrargo.plan.model import Binding, JobPlan

__all__ = ["task_gc", "Counters", "counters_of", "hook", "identity_mapper", "make_job", "merge_counters", "run_user", "user_error", "user_method"]


# Cyclic-GC thresholds while a map or reduce task runs.  A task holds
# hundreds of thousands of live containers (a key's waiting values), and
# Python's default (700, 10, 10) traverses them over and over: an index
# task spent 1.98 s combining with the default and 0.48 s with these.
# Garbage still goes at the latest after 50,000 new containers, so memory
# stays bounded.
TASK_GC_THRESHOLDS = (50_000, 20, 20)

F = TypeVar("F", bound=Callable[..., Any])


def task_gc(fn: F) -> F:
    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        saved = gc.get_threshold()
        gc.set_threshold(*TASK_GC_THRESHOLDS)
        try:
            return fn(*args, **kwargs)
        finally:
            gc.set_threshold(*saved)

    return run  # type: ignore[return-value]


def make_job(plan: JobPlan, run: Binding) -> Any:
    """The job instance with the run's parameters."""
    return new_job(plan.job, run.params)


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


def identity_mapper(key: Any, value: Any) -> Iterator[tuple[Any, Any]]:
    yield key, value


def user_method(job: Any, name: str, label: str) -> Callable[..., Iterable[Any]]:
    """The job's mapper, combiner or reducer, ready for the hot loops.

    A generator function always returns a generator, so it is used as it
    is.  Anything else (a plain method returning a list, or by mistake
    None) is checked on every call: None is a clear error that no retry
    will fix, not "'NoneType' object is not iterable".
    """
    fn = getattr(job, name)
    if inspect.isgeneratorfunction(fn):
        return fn  # type: ignore[no-any-return]

    def checked(*args: Any) -> Iterable[Any]:
        out = fn(*args)
        if out is None:
            raise UserCodeError(
                f"{label}: {name} must yield (key, value) pairs; it returned None (write `yield key, value`, not `return`)",
                retry=False,
            )
        return out  # type: ignore[no-any-return]

    return checked


def hook(job: Any, name: str | None) -> Iterable[tuple[Any, Any]]:
    """Call an init/final hook by name; a hook may yield pairs or return None."""
    if name is None:
        return ()
    out = getattr(job, name)()
    return () if out is None else list(out)
