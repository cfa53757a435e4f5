"""The helpers of mrjob.util that jobs use: ``cmd_line``, ``to_lines``, ``log_to_stream``, ``log_to_null``."""

from __future__ import annotations

import logging
import shlex
import sys
from collections.abc import Iterable, Iterator
from typing import IO, Any

__all__ = ["cmd_line", "log_to_null", "log_to_stream", "to_lines"]


def cmd_line(args: Iterable[Any]) -> str:
    """A command line that works in a shell: each argument quoted as needed."""
    return " ".join(shlex.quote(str(a)) for a in args)


def to_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Bytes chunks as lines, each with its ``\\n`` (the last may lack one).

    An empty chunk ends a file: the text before it is a line of its own,
    so two files never run together.
    """
    pending: list[bytes] = []
    for chunk in chunks:
        if not chunk:
            if pending:
                yield b"".join(pending)
                pending = []
            continue
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            if end < 0:
                if start < len(chunk):
                    pending.append(chunk[start:])
                break
            pending.append(chunk[start : end + 1])
            yield b"".join(pending)
            pending = []
            start = end + 1
    if pending:
        yield b"".join(pending)


def log_to_stream(name: str | None = None, stream: IO[str] | None = None, format: str | None = None, level: int | None = None, debug: bool = False) -> None:
    """Send log records of ``name`` to ``stream`` (stderr by default)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter(format or "%(message)s"))
    logger = logging.getLogger(name)
    logger.setLevel(level if level is not None else (logging.DEBUG if debug else logging.INFO))
    logger.addHandler(handler)


def log_to_null(name: str | None = None) -> None:
    """Drop the log records of ``name``."""
    logging.getLogger(name).addHandler(logging.NullHandler())
    logging.getLogger(name).propagate = False
