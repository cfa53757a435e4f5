"""Following a Workflow: live progress bars, then the counters or the failure.

`submit --watch` polls the Workflow (a GET every ``--poll`` seconds; polling
survives API-server restarts and proxies that cut long watches) and redraws
one bar per DAG task.  On a terminal the bars are redrawn in place;
otherwise a line is printed whenever a task's count changes, which is what
a CI log wants.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import TextIO

from mrargo.argo import contract as c
from mrargo.cluster import nodes
from mrargo.cluster.client import ApiUnreachable
from mrargo.errors import MrargoError

MAX_UNREACHABLE = 5  # consecutive failed polls before giving up


class Board:
    """The block of progress lines, redrawn in place on a terminal."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.live = stream.isatty()
        self.shown: list[tuple[str, str]] = []

    def show(self, lines: list[tuple[str, str]]) -> None:
        if self.live:
            if self.shown:
                self.stream.write(f"\033[{len(self.shown)}F")  # back to the block's first line
            for _, line in lines:
                self.stream.write("\033[K" + line + "\n")
        else:
            before = dict(self.shown)
            for key, line in lines:
                if before.get(key) != line:
                    self.stream.write(line + "\n")
        self.stream.flush()
        self.shown = lines


def follow(get: Callable[[], nodes.Workflow], stream: TextIO, poll: float, sleep: Callable[[float], None] = time.sleep) -> nodes.Workflow:
    """Poll until the workflow finishes; return its last state."""
    board = Board(stream)
    misses = 0
    phase = ""
    while True:
        try:
            wf = get()
            misses = 0
        except ApiUnreachable:
            misses += 1
            if misses >= MAX_UNREACHABLE:
                raise
            sleep(poll)
            continue
        if nodes.phase_of(wf) != phase:
            phase = nodes.phase_of(wf)
            board.shown = []  # the phase line breaks the block: start a new one
            stream.write(f"workflow {wf['metadata']['name']}: {phase}\n")
        board.show(nodes.progress_lines(wf))
        if phase in nodes.TERMINAL:
            return wf
        sleep(poll)


def duration(wf: nodes.Workflow) -> str:
    status = wf.get("status") or {}
    try:
        start = datetime.fromisoformat(str(status["startedAt"]).replace("Z", "+00:00"))
        end = datetime.fromisoformat(str(status["finishedAt"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return ""
    secs = int((end - start).total_seconds())
    return f" in {secs // 60}m{secs % 60:02d}s" if secs >= 60 else f" in {secs}s"


def result_lines(wf: nodes.Workflow) -> list[str]:
    """What a finished, successful run reports: records, output, counters."""
    name = wf["metadata"]["name"]
    found, records = nodes.counters(wf)
    output = nodes.parameter(wf, c.PARAM_OUTPUT)
    lines = [f"workflow {name} Succeeded{duration(wf)}"]
    if records is not None or output:
        what = f"{records} records" if records is not None else "the output"
        lines.append(f"wrote {what} to {output or 'the workflow output'}")
    for group, names in sorted(found.items()):
        lines.append(f"  {group}:")
        lines += [f"    {counter}: {n}" for counter, n in sorted(names.items())]
    return lines


def failure_error(wf: nodes.Workflow) -> MrargoError:
    """One line: the phase, the failed task and its message, and where its log is."""
    name = wf["metadata"]["name"]
    label, message = nodes.first_failure(wf)
    if label:
        return MrargoError(f"workflow {name} {nodes.phase_of(wf)}: task {label} failed: {message}; see mrargo logs {name} --task {label}")
    return MrargoError(f"workflow {name} {nodes.phase_of(wf)}: {message}; see mrargo status {name}")
