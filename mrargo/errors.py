"""The exception tree: every error a user can cause is a MrargoError.

The CLI prints ``str(error)`` as one line and exits 1; tracebacks are for
``--debug``.  Messages say what was expected, what was found, and the fix.
"""

from __future__ import annotations


class MrargoError(Exception):
    """Base of every error mrargo reports to a user as one line."""

    exit_code = 1


class JobDefinitionError(MrargoError):
    """The job file or class is unusable (no class, two classes, bad step)."""


class PlanError(MrargoError):
    """A plan field is invalid (bad option, bad URL, bad parameter)."""


class InputError(MrargoError):
    """An input is missing, unreadable, undecodable or corrupt."""


class OutputExistsError(MrargoError):
    """The output location already holds data and --overwrite was not given."""


class EncodeError(MrargoError):
    """A key or value yielded by user code cannot be encoded."""


class CorruptDataError(MrargoError):
    """Intermediate data failed its checksum or is truncated or missing.

    ``producer`` names the task that wrote the file, so the local executor
    can run that task again.
    """

    def __init__(self, message: str, *, path: str = "", producer: str = "") -> None:
        super().__init__(message)
        self.path = path
        self.producer = producer


class UserCodeError(MrargoError):
    """User code (mapper, combiner, reducer or a hook) raised.

    The worker exits with a distinct code for these so that retry policies
    can tell a deterministic bug from an infrastructure failure.
    """

    exit_code = 3

    def __init__(self, message: str, *, user_traceback: str = "") -> None:
        super().__init__(message)
        self.user_traceback = user_traceback


class TaskFailedError(MrargoError):
    """A task failed after all its attempts."""

    def __init__(self, message: str, *, user_traceback: str = "") -> None:
        super().__init__(message)
        self.user_traceback = user_traceback


# Failures that repeat on every attempt: the same bytes, the same plan.  The
# local executor does not retry them, and the Argo worker exits 3 for them.
# (An exception in user code is retried locally, as Hadoop does.)
DETERMINISTIC = (InputError, EncodeError, PlanError, JobDefinitionError)
