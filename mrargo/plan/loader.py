"""Find, load and instantiate the job class: ``path/job.py[:Class]``, ``package.module:Class`` or a class.

This is the one place the engine touches the job's Python: tasks get
their job instance and its counters from here, never from mrargo.api.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import traceback
import zlib
from types import ModuleType
from typing import Any

from mrargo.api import COUNTERS_ATTR, MapReduce
from mrargo.errors import JobDefinitionError, UserCodeError
from mrargo.plan.model import JobRef

Counters = dict[str, dict[str, int]]


def parse_job_spec(spec: str) -> JobRef:
    """Turn a JOB argument into a JobRef (the class name may be resolved later)."""
    path, _, cls = spec.partition(":") if not _is_windows_drive(spec) else (spec, "", "")
    if path.endswith(".py") or os.sep in path or os.path.exists(path):
        if not os.path.isfile(path):
            raise JobDefinitionError(f"job file {path!r} does not exist; pass a .py file or module:Class")
        return JobRef(class_name=cls, path=os.path.abspath(path))
    if not cls:
        raise JobDefinitionError(f"JOB {spec!r} is neither a .py file nor module:Class")
    return JobRef(class_name=cls, module=path)


def ref_of_class(cls: type) -> JobRef:
    """A JobRef for a class object (the Python API): its module, or its file when it was loaded from one."""
    if not (isinstance(cls, type) and issubclass(cls, MapReduce)) or cls is MapReduce:
        raise JobDefinitionError(f"{cls!r} is not a MapReduce subclass; pass a job class, e.g. mrargo.run(WordCount, ...)")
    if "<locals>" in cls.__qualname__:
        raise JobDefinitionError(f"job class {cls.__qualname__} is defined inside a function; define it at module level")
    module = sys.modules.get(cls.__module__)
    path = getattr(module, "__file__", None) or ""
    if module is not None and module.__name__.startswith("mrargo_job_") and path:
        return JobRef(class_name=cls.__qualname__, path=os.path.abspath(path))  # loaded from a file by us
    return JobRef(class_name=cls.__qualname__, module=cls.__module__)


def _is_windows_drive(spec: str) -> bool:
    return len(spec) > 2 and spec[1] == ":" and spec[2] in "\\/"


def load_module(ref: JobRef) -> ModuleType:
    if ref.module:
        if ref.module in sys.modules:  # "__main__" of a notebook or script, or any imported module
            return sys.modules[ref.module]
        try:
            return importlib.import_module(ref.module)
        except ImportError as e:
            raise JobDefinitionError(f"cannot import job module {ref.module!r}: {e}") from e
    # A stable module name per file, so fork-started tasks and re-loads agree.
    # Two checksums, not a hash from hashlib: loading OpenSSL for it was
    # 2 ms of every run, and the name need only tell paths apart.
    path = ref.path.encode()
    name = f"mrargo_job_{zlib.crc32(path):08x}{zlib.adler32(path):08x}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ref.path)
    if spec is None or spec.loader is None:
        raise JobDefinitionError(f"cannot load job file {ref.path!r}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    # Let the job import helper modules that sit beside it.
    job_dir = os.path.dirname(ref.path)
    if job_dir not in sys.path:
        sys.path.insert(0, job_dir)
    try:
        spec.loader.exec_module(module)
    except FileNotFoundError as e:
        del sys.modules[name]
        raise JobDefinitionError(f"job file {ref.path} is missing ({e.strerror})") from e
    except SyntaxError as e:
        del sys.modules[name]
        raise JobDefinitionError(f"{ref.path}:{e.lineno}: syntax error: {e.msg}") from e
    except Exception as e:
        del sys.modules[name]
        where = _user_frame(e, ref.path)
        raise JobDefinitionError(f"{where}: importing the job raised {type(e).__name__}: {e}") from e
    return module


def _user_frame(e: BaseException, path: str) -> str:
    frames = [f for f in traceback.extract_tb(e.__traceback__) if f.filename == path]
    return f"{path}:{frames[-1].lineno}" if frames else path


def resolve_class(ref: JobRef) -> tuple[JobRef, type[MapReduce]]:
    """Load the module and pick the class; fill in the class name if it was implied."""
    module = load_module(ref)
    where = ref.path or ref.module
    if ref.class_name:
        cls: Any = module
        for part in ref.class_name.split("."):
            cls = getattr(cls, part, None)
        if not (isinstance(cls, type) and issubclass(cls, MapReduce)):
            raise JobDefinitionError(f"{where} has no MapReduce class named {ref.class_name!r}")
        return ref, cls
    found = [
        obj
        for obj in vars(module).values()
        if isinstance(obj, type) and issubclass(obj, MapReduce) and obj is not MapReduce and obj.__module__ == module.__name__
    ]
    if not found:
        raise JobDefinitionError(f"{where} defines no MapReduce subclass; define one, e.g. class MyJob(MapReduce)")
    if len(found) > 1:
        names = ", ".join(sorted(c.__name__ for c in found))
        raise JobDefinitionError(f"{where} defines several jobs ({names}); choose one with {where}:ClassName")
    return JobRef(class_name=found[0].__name__, path=ref.path, module=ref.module), found[0]


def new_job(ref: JobRef, params: tuple[tuple[str, str], ...] = ()) -> MapReduce:
    """An instance of the job class with the run's parameters, as every task gets it."""
    _, cls = resolve_class(ref)
    try:
        job = cls()
    except Exception as e:
        raise UserCodeError(f"{cls.__name__}() raised {type(e).__name__}: {e}", user_traceback=traceback.format_exc()) from e
    job.params = dict(params)
    job.input_file = None
    return job


def counters_of(job: MapReduce) -> Counters:
    """The job instance's own counters (increment_counter), by group and name."""
    out: Counters = {}
    for (group, name), n in job.__dict__.get(COUNTERS_ATTR, {}).items():
        out.setdefault(group, {})[name] = n
    return out
