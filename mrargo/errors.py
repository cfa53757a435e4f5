"""The exception tree: every error a user can cause is a MrargoError, with one exit code per cause.

The CLI prints ``str(error)`` as one line and exits with ``error.exit_code``;
tracebacks are for ``--debug``.  Messages say what was expected, what was
found, and the fix.  The exit codes are the same for ``mrargo run JOB``,
``mrargo run SPEC.yaml`` and the Argo worker (README, "Errors and exit codes"):

    0    done
    1    failed, and may pass if run again: storage or network, a task that
         crashed or timed out after its retries, corrupt intermediate data
    2    the command line is wrong: an unknown option, a bad value, an
         option that does not apply to this kind of JOB
    3    fails the same way every time: the job's code raised, bad input
         data, an unusable job, plan or spec, a value that cannot be
         encoded, an output that exists or overlaps an input (Argo's retry
         expression stops on 3)
    130  interrupted (Ctrl-C)
    143  terminated (SIGTERM)
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from typing import NoReturn

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_DETERMINISTIC = 3
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


def exit_now(code: int) -> NoReturn:
    """End the process with ``code``, without the interpreter's teardown.

    For a task's process (a local task's child, or a pod) once its data and
    commit marker are put whole, and for the ``mrargo`` command once its
    atexit handlers ran (cli.console): freeing every table and module one
    object at a time would only cost time.  Only the standard streams can
    hold text not yet written: they are flushed first (os._exit does not).
    """
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed or broken pipe loses the text either way
            stream.flush()
    os._exit(code)


class MrargoError(Exception):
    """Base of every error mrargo reports to a user as one line."""

    exit_code = EXIT_FAILED


class UsageError(MrargoError):
    """A command-line option or argument is wrong, or does not apply here."""

    exit_code = EXIT_USAGE


class DeterministicError(MrargoError):
    """Fails the same way on every attempt: not worth a retry."""

    exit_code = EXIT_DETERMINISTIC


class JobDefinitionError(DeterministicError):
    """The job file or class is unusable (no class, two classes, bad step)."""


class PlanError(DeterministicError):
    """A plan or run value is invalid (bad option, bad URL, bad parameter)."""


class InputError(DeterministicError):
    """An input is missing, unreadable, undecodable or corrupt."""


class OutputExistsError(DeterministicError):
    """The output location already holds data and overwriting was not asked for.

    ``how`` is the way to overwrite where the error is shown: a flag of
    `mrargo run`, an argument of mrargo.run(), or a compile option for a spec.
    """

    def __init__(self, url: str, how: str = "pass --overwrite to replace it") -> None:
        super().__init__(f"output {url} already exists; remove it, choose another output, or {how}")
        self.url = url


class EncodeError(DeterministicError):
    """A key or value yielded by user code cannot be encoded."""


class UserCodeError(DeterministicError):
    """User code (mapper, combiner, reducer, a hook or the job's constructor) raised.

    ``user_traceback`` is the user's own traceback, shown with ``--debug``.
    """

    def __init__(self, message: str, *, user_traceback: str = "", retry: bool = True) -> None:
        super().__init__(message)
        self.user_traceback = user_traceback
        # An exception in user code may be transient (Hadoop retries it), but
        # a job that returned None instead of yielding never passes.
        self.retry = retry


class CorruptDataError(MrargoError):
    """Intermediate data failed its checksum or is truncated or missing.

    ``producer`` names the task that wrote the file, so the local executor
    can run that task again.
    """

    def __init__(self, message: str, *, path: str = "", producer: str = "") -> None:
        super().__init__(message)
        self.path = path
        self.producer = producer


class TaskFailedError(MrargoError):
    """A task failed after all its attempts; ``exit_code`` is that of its last failure's cause."""

    def __init__(self, message: str, *, user_traceback: str = "", exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.user_traceback = user_traceback
        self.exit_code = exit_code


class Interrupted(MrargoError):
    """The run was stopped by a signal; nothing was written to the output."""

    def __init__(self, message: str, *, exit_code: int = EXIT_INTERRUPTED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def plan_flag_fix(flag: str) -> str:
    """The fix "pass FLAG", for a flag that shapes the job plan, as it works wherever the error shows.

    Input and job errors show in `mrargo run job.py`, which takes the flag,
    and in a compiled spec's run, where only `mrargo compile` does.
    """
    return f"pass {flag} to mrargo run, or to mrargo compile for a spec"


# A pod's message when its log tail stands in for a termination message
# (terminationMessagePolicy FallbackToLogsOnError): the container's status.
_POD_STATUS = re.compile(r"^([a-z0-9-]+: \w+ \(exit code -?\d+\))")


def one_line(text: str, limit: int = 400) -> str:
    """Any message on one line, for an error or a table row.

    A pod's log tail becomes its container status and its last line, which
    is where mrargo's worker writes its one-line error; other text has its
    lines joined with " | ".  Past ``limit`` characters the end is kept.
    """
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    status = _POD_STATUS.match(lines[0]) if len(lines) > 1 else None
    joined = f"{status.group(1)}: {lines[-1]}" if status else " | ".join(lines)
    return joined if not limit or len(joined) <= limit else "…" + joined[-limit:]
