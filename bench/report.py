"""The benchmark's rows, and the Markdown report made of them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from measure import SAMPLE_S

TITLES = {"wordcount": "Word count", "indexer": "Inverted index (word → sorted files)", "topwords": "Top-20 words (two steps)"}
REFERENCE = "p0"
MIB = 2**20

# Status values of a row.
OK, MISMATCH, FAILED, SKIPPED, NOT_APPLICABLE = "ok", "MISMATCH", "failed", "skipped", "n/a"


@dataclass(frozen=True)
class Row:
    workload: str
    peer: str
    status: str
    detail: str = ""  # why it failed, was skipped or differs
    wall_s: float | None = None  # median over the repeats
    max_rss: int | None = None  # bytes, largest over the repeats
    tree_pss: int | None = None  # bytes, largest over the repeats
    floor_rss: int = 0  # bytes, the measuring launcher's own peak RSS


@dataclass(frozen=True)
class RunInfo:
    date: str
    command: str
    corpus: str
    corpus_bytes: int
    files: int
    repeat: int
    rss_floor: int  # bytes, see Row.floor_rss
    machine: Mapping[str, str]
    versions: Sequence[tuple[str, str, str]]  # (peer, version, how it ran)


def ok_cell(row: Row) -> str:
    if row.status == OK:
        return "reference" if row.peer == REFERENCE else "yes"
    if row.status == NOT_APPLICABLE:
        return "n/a"
    if row.status == SKIPPED:
        return "skipped"
    return f"**{row.status}**"


def cell(text: str) -> str:
    """Text safe inside a Markdown table cell: a bare '|' would end the cell."""
    return text.replace("|", "\\|")


def number(value: float | None, fmt: str) -> str:
    return "–" if value is None else format(value, fmt)


def table(rows: Sequence[Row], corpus_bytes: int) -> list[str]:
    ref = next((r.wall_s for r in rows if r.peer == REFERENCE and r.status == OK), None)
    lines = [
        "| peer | wall s | MB/s | × P0 | max RSS/proc MiB | tree PSS MiB | ok |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        measured = r.wall_s is not None and r.status in (OK, MISMATCH)
        wall = r.wall_s if measured else None
        mbps = corpus_bytes / 1e6 / wall if wall else None
        ratio = wall / ref if wall and ref else None
        rss = r.max_rss / MIB if measured and r.max_rss is not None else None
        pss = r.tree_pss / MIB if measured and r.tree_pss else None
        cells = [r.peer, number(wall, ".2f"), number(mbps, ".1f"), number(ratio, ".2f"), number(rss, ".0f"), number(pss, ".0f"), ok_cell(r)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def problems(rows: Iterable[Row]) -> list[str]:
    found = [r for r in rows if r.status in (MISMATCH, FAILED, SKIPPED)]
    if not found:
        return ["None: every peer that ran matched P0 exactly."]
    return [f"- **{r.peer}** / {r.workload}: {r.status}: {r.detail}" for r in found]


NOTES = """\
- **wall s**: seconds from starting the peer's process to its exit, output
  written; the median of the repeats.  Interpreter or JVM start-up is included.
  The page cache was warmed by reading the corpus once before the first run.
- **MB/s**: corpus bytes (10⁶) over wall seconds.  **× P0**: wall over P0's
  wall for the same workload (below 1 is faster than P0).
- **max RSS/proc**: the largest peak RSS of any *single* process of the
  peer's tree (driver or worker), exact, from `wait4`'s rusage.  The peer is
  started by a small launcher (`bench/measure.py`) that is a child subreaper,
  so orphaned descendants (PySpark's JVM) are counted too.  Linux carries a
  peak across exec, so the launcher's own peak, {floor} MiB, is a floor under
  this figure.  RSS counts pages shared with other processes (fork
  copy-on-write, mapped libraries and jars) in full.
- **tree PSS**: the peak of the summed PSS (shared pages split between their
  sharers) of the whole tree, sampled every {sample} s: a shorter peak can be
  missed.
- **ok**: the peer's output, read back into a dict (a ranked list for
  top-20), equals P0's exactly.
- Every Python peer tokenizes with `bench/tokenize_shared.py`; mrargo runs
  `examples/*.py` unchanged, which use the same regex; coreutils lower-cases
  with `tr` and then cuts on non-`[a-z]`, the same words on ASCII text.
- The machine may be shared: see the load average above."""


def markdown(info: RunInfo, rows: Sequence[Row]) -> str:
    out = [f"# mrargo benchmark, {info.date}", ""]
    out += [
        f"- command: `{info.command}`",
        f"- corpus: `{info.corpus}`, {info.files} files, {info.corpus_bytes / 1e6:.1f} MB",
        f"- repeats: {info.repeat} (wall: median; memory: largest)",
        "",
        "## Machine",
        "",
    ]
    out += [f"- {k}: {v}" for k, v in info.machine.items()]
    out += ["", "## Peers", "", "| peer | version | how it runs |", "| --- | --- | --- |"]
    out += [f"| {peer} | {cell(version)} | {cell(how)} |" for peer, version, how in info.versions]
    for workload, title in TITLES.items():
        part = [r for r in rows if r.workload == workload]
        if part:
            out += ["", f"## {title}", ""] + table(part, info.corpus_bytes)
    out += ["", "## Problems", ""] + problems(rows)
    out += ["", "## How to read this", "", NOTES.format(floor=round(info.rss_floor / MIB), sample=SAMPLE_S), ""]
    return "\n".join(out)
