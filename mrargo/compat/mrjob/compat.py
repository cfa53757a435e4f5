"""mrjob's ``jobconf_from_env``: Hadoop job properties as a task sees them.

On Hadoop a task reads its properties from environment variables (dots
become underscores).  mrargo sets none, so this looks at, in order: the
environment (as mrjob does, so a variable you export still wins), the file
the running map task is reading (``mapreduce.map.input.file`` and its older
names), and the job's own jobconf (``JOBCONF``, ``jobconf()`` and
``--jobconf``).  A property Hadoop would invent (task ids, partitions)
gives the default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Protocol

__all__ = ["jobconf_from_dict", "jobconf_from_env", "translate_jobconf"]

# Each property with its Hadoop 1 and Hadoop 2+ names.
_NAMES = (
    ("mapreduce.map.input.file", "map.input.file"),
    ("mapreduce.map.input.start", "map.input.start"),
    ("mapreduce.map.input.length", "map.input.length"),
    ("mapreduce.job.reduces", "mapred.reduce.tasks"),
    ("mapreduce.job.maps", "mapred.map.tasks"),
    ("mapreduce.job.name", "mapred.job.name"),
    ("mapreduce.job.id", "mapred.job.id"),
    ("mapreduce.task.id", "mapred.tip.id"),
    ("mapreduce.task.attempt.id", "mapred.task.id"),
    ("mapreduce.task.partition", "mapred.task.partition"),
    ("mapreduce.task.ismap", "mapred.task.is.map"),
    ("mapreduce.output.fileoutputformat.compress", "mapred.output.compress"),
)
_ALIASES: dict[str, tuple[str, ...]] = {}
for _group in _NAMES:
    for _name in _group:
        _ALIASES[_name] = _group
INPUT_FILE = "mapreduce.map.input.file"


class TaskJob(Protocol):
    """What this module reads of the job a task runs."""

    input_file: str | None

    def task_jobconf(self) -> Mapping[str, Any]: ...


# The job instance of the task running in this process, set by MRJob when
# the engine hands it the run's parameters.  jobconf_from_env is a plain
# function in mrjob's API, so it has no other way to find it.
_task: list[TaskJob] = []


def set_task_job(job: TaskJob) -> None:
    _task[:] = [job]


def names_of(variable: str) -> tuple[str, ...]:
    """``variable`` and its other Hadoop names; ``mapreduce_map_input_file`` is ``mapreduce.map.input.file``."""
    key = variable if variable in _ALIASES else variable.replace("_", ".")
    return _ALIASES.get(key, (variable,) if key == variable else (variable, key))


def input_uri(url: str) -> str:
    """A URL as Hadoop names an input file: local paths get ``file://``."""
    return url if "://" in url else "file://" + url


def jobconf_from_env(variable: str, default: Any = None) -> Any:
    """The value of a Hadoop job property in the running task, or ``default``."""
    names = names_of(variable)
    for name in names:
        env = name.replace(".", "_")
        if env in os.environ:
            return os.environ[env]
    if _task:
        job = _task[0]
        if INPUT_FILE in names and job.input_file:
            return input_uri(job.input_file)
        found = jobconf_from_dict(job.task_jobconf(), variable)
        if found is not None:
            return found
    return default


def jobconf_from_dict(jobconf: Mapping[str, Any], name: str, default: Any = None) -> Any:
    """``jobconf[name]``, trying the property's other Hadoop names too."""
    for n in names_of(name):
        if n in jobconf:
            return jobconf[n]
    return default


def translate_jobconf(variable: str, version: str) -> str:
    """The name of ``variable`` in a Hadoop ``version`` (1.x names before 2.0)."""
    group = _ALIASES.get(variable)
    if group is None:
        return variable
    return group[1] if version.split(".")[0] in ("0", "1") else group[0]
