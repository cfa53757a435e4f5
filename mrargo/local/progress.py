"""Progress bars on stderr: live on a terminal, one line per phase otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO

BAR = 28


class Progress:
    def __init__(self, stream: TextIO | None = None, enabled: bool = True) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.live = enabled and self.stream.isatty()
        self.phase = ""
        self.total = 0
        self.done = 0
        self.started = 0.0
        self._last_draw = 0.0

    def start(self, phase: str, total: int) -> None:
        self.phase, self.total, self.done = phase, total, 0
        self.started = time.monotonic()
        self._draw(force=True)

    def advance(self, n: int = 1) -> None:
        self.done += n
        self._draw()

    def finish(self, note: str = "") -> None:
        if not self.enabled:
            return
        secs = time.monotonic() - self.started
        line = f"{self.phase:<22} {self._bar()} {self.done}/{self.total} in {secs:.1f}s{note}"
        if self.live:
            self.stream.write("\r\033[K" + line + "\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def message(self, text: str) -> None:
        if not self.enabled:
            return
        if self.live:
            self.stream.write("\r\033[K")
        self.stream.write(text + "\n")
        self.stream.flush()
        self._draw(force=True)

    def _bar(self) -> str:
        filled = BAR * self.done // self.total if self.total else BAR
        return "[" + "#" * filled + "." * (BAR - filled) + "]"

    def _draw(self, force: bool = False) -> None:
        if not self.live:
            return
        now = time.monotonic()
        if not force and now - self._last_draw < 0.1 and self.done < self.total:
            return
        self._last_draw = now
        self.stream.write(f"\r\033[K{self.phase:<22} {self._bar()} {self.done}/{self.total}")
        self.stream.flush()
