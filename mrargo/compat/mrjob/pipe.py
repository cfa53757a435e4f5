"""One command per task, fed lines and read as it writes: ``*_cmd`` and ``mapper_pre_filter``.

mrjob's local runner starts one process per task with the task's input on
stdin.  Here the engine hands records over one at a time, so a thread
reads the command's stdout while lines go in; whatever the command has
written is passed on after each line, and the rest when the task ends.
Its stderr is passed through, except Hadoop Streaming's
``reporter:counter:GROUP,NAME,N`` and ``reporter:status:MSG`` lines, which
become counters and status as they do on Hadoop.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import shlex
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from typing import IO

log = logging.getLogger("mrargo.compat.mrjob")


class LinePipe:
    """A running command: ``feed`` it lines, take its output lines as they come, ``close`` it at the end."""

    def __init__(self, what: str, command: str | list[str], *, shell: bool, env: Mapping[str, str], ok_codes: tuple[int, ...] = (0,)) -> None:
        self.what = what
        self.command = command
        self.ok_codes = ok_codes
        self.out: collections.deque[bytes] = collections.deque()
        self.counters: list[tuple[str, str, int]] = []
        self.input_open = True
        argv: str | list[str] = command if shell else (shlex.split(command) if isinstance(command, str) else [str(c) for c in command])
        try:
            self.proc = subprocess.Popen(argv, shell=shell, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(env))
        except OSError as e:
            raise RuntimeError(f"{what} {self._shown()}: cannot start it ({e.strerror or e})") from None
        assert self.proc.stdout is not None and self.proc.stderr is not None  # PIPE was asked for
        self.threads = [
            threading.Thread(target=self._read_stdout, args=(self.proc.stdout,), daemon=True),
            threading.Thread(target=self._read_stderr, args=(self.proc.stderr,), daemon=True),
        ]
        for t in self.threads:
            t.start()

    def _shown(self) -> str:
        return repr(self.command if isinstance(self.command, str) else shlex.join(self.command))

    def _read_stdout(self, f: IO[bytes]) -> None:
        append = self.out.append
        for line in f:
            append(line.rstrip(b"\r\n"))

    def _read_stderr(self, f: IO[bytes]) -> None:
        for raw in f:
            line = raw.decode("utf-8", "replace")
            if line.startswith("reporter:counter:"):
                group, _, rest = line[len("reporter:counter:") :].rstrip("\r\n").partition(",")
                name, _, amount = rest.rpartition(",")
                try:
                    self.counters.append((group, name, int(amount)))
                    continue
                except ValueError:
                    pass
            elif line.startswith("reporter:status:"):
                log.debug("status: %s", line[len("reporter:status:") :].rstrip())
                continue
            sys.stderr.write(line)

    def feed(self, line: bytes) -> Iterator[bytes]:
        """Send one line (without its newline); yield the output lines that are ready."""
        if self.input_open:
            stdin = self.proc.stdin
            assert stdin is not None
            try:
                stdin.write(line + b"\n")
            except BrokenPipeError:
                # The command stopped reading (as `head` does): the rest of
                # the input is not for it.
                self.input_open = False
        out = self.out
        while out:
            yield out.popleft()

    def close(self) -> Iterator[bytes]:
        """End the input, yield the remaining output lines, and check how the command ended."""
        stdin = self.proc.stdin
        assert stdin is not None
        with contextlib.suppress(BrokenPipeError):
            stdin.close()
        for t in self.threads:
            t.join()
        code = self.proc.wait()
        out = self.out
        while out:
            yield out.popleft()
        if code not in self.ok_codes:
            how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
            raise RuntimeError(f"{self.what} {self._shown()} {how}")
