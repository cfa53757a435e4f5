"""Task processes: a forked child per task attempt, and a pipe for its one message.

The executor needs four things of a task process: start it with the job
already loaded (fork), learn when it is done, read the one message it
sends, and kill it.  ``os.fork`` and a pipe give exactly that; the
multiprocessing package gave it too, at about 7 ms of imports on every
``mrargo run`` (pickle, socket, subprocess), for machinery the executor
never used.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
from collections.abc import Callable

__all__ = ["Child", "send", "start", "wait"]

_HEADER = 8  # bytes of a message's length, before it


class Child:
    """A running task process, and the read end of the pipe it writes its message to."""

    def __init__(self, pid: int, fd: int) -> None:
        self.pid = pid
        self.fd = fd
        self.exitcode: int | None = None

    def fileno(self) -> int:
        return self.fd

    def message(self) -> bytes | None:
        """The message the child sent (``send``), or None if it ended without a whole one.  Closes the pipe.

        Length-prefixed, not read to the end of the pipe: a process the
        task forked may hold the pipe open after the task is done.
        """
        data = b""
        want = _HEADER
        try:
            while len(data) < want:
                chunk = os.read(self.fd, max(want - len(data), 1 << 16))
                if not chunk:
                    break
                data += chunk
                if want == _HEADER and len(data) >= _HEADER:
                    want = _HEADER + int.from_bytes(data[:_HEADER], "big")
        except OSError:
            pass
        self.close()
        return data[_HEADER:want] if want > _HEADER and len(data) >= want else None

    def close(self) -> None:
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = -1

    def join(self) -> int:
        """Wait for the process to end; its exit code (negative: the signal that ended it)."""
        if self.exitcode is None:
            try:
                _, status = os.waitpid(self.pid, 0)
            except ChildProcessError:  # reaped elsewhere; its code is lost
                status = 0
            self.exitcode = os.waitstatus_to_exitcode(status)
        return self.exitcode

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        self.close()
        self.join()


def send(fd: int, message: bytes) -> None:
    """Write a child's one message to its pipe (the parent reads it as it comes, so it may be long)."""
    data = len(message).to_bytes(_HEADER, "big") + message
    while data:
        data = data[os.write(fd, data) :]


def start(target: Callable[[int], None]) -> Child:
    """Fork a child that runs ``target(fd)``, fd the write end of its pipe, then exits (1 if target returned or raised)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        try:
            os.close(r)
            _stdin_from_devnull()
            target(w)
        except BaseException:  # target reports its own errors; this is a last resort
            with contextlib.suppress(BaseException):
                import traceback

                traceback.print_exc()
        finally:
            os._exit(1)
    os.close(w)
    return Child(pid, r)


def _stdin_from_devnull() -> None:
    """A task reads no terminal: its stdin is /dev/null, as multiprocessing's children had."""
    with contextlib.suppress(OSError, ValueError):
        if sys.stdin is not None:
            sys.stdin.close()
        fd = os.open(os.devnull, os.O_RDONLY)
        if fd != 0:
            os.dup2(fd, 0)
            os.close(fd)
        sys.stdin = open(0, closefd=False)  # noqa: SIM115 - the process's stdin, for its whole life


def wait(children: list[Child], timeout: float) -> list[Child]:
    """The children whose pipes are readable (a message, or the end of a dead child), after at most ``timeout`` s."""
    poller = select.poll()
    by_fd: dict[int, Child] = {}
    for c in children:
        by_fd[c.fd] = c
        poller.register(c.fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    return [by_fd[fd] for fd, _ in poller.poll(timeout * 1000)]
