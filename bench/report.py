"""The benchmark's rows, and the Markdown report made of them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from measure import SAMPLE_S

TITLES = {
    "wordcount": "Word count",
    "indexer": "Inverted index (word → sorted files)",
    "topwords": "Top-20 words (two steps)",
    "lineindex": "Line-based inverted index (a (word, file) pair per distinct word per line)",
}
REFERENCE = "p0"
LIMIT = "limit"  # the user-code limit peer (peers/limit.py)
# What the limit peer reports, seconds: the limit (wall of the slowest process
# per phase, summed; CPU over every process), its parts, and beside it the
# read alone, the combiner and the mapper alone in one process.
LIMIT_PARTS = ("limit_s", "limit_cpu", "read_s", "map_s", "reduce_s", "combine_s", "combine_cpu", "map_1proc_s", "map_1proc_cpu")
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
    cpu_s: float | None = None  # user + system seconds of the tree, median over the repeats
    max_rss: int | None = None  # bytes, largest over the repeats
    tree_pss: int | None = None  # bytes, largest over the repeats
    floor_rss: int = 0  # bytes, the measuring launcher's own peak RSS
    parts: Mapping[str, float] = field(default_factory=dict)  # a self-timed peer's own figures (LIMIT_PARTS)


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


def measured(r: Row) -> bool:
    return r.wall_s is not None and r.status in (OK, MISMATCH)


def reference_row(rows: Sequence[Row], name: str) -> Row | None:
    return next((r for r in rows if r.peer == name and measured(r)), None)


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def table(rows: Sequence[Row], corpus_bytes: int) -> list[str]:
    p0, limit = reference_row(rows, REFERENCE), reference_row(rows, LIMIT)
    lines = [
        "| peer | wall s | CPU s | MB/s | × P0 | × limit | × limit (CPU) | max RSS/proc MiB | tree PSS MiB | ok |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        wall = r.wall_s if measured(r) else None
        cpu = r.cpu_s if measured(r) else None
        mbps = corpus_bytes / 1e6 / wall if wall else None
        rss = r.max_rss / MIB if wall and r.max_rss is not None and not r.parts else None
        pss = r.tree_pss / MIB if wall and r.tree_pss and not r.parts else None
        cells = [
            r.peer,
            number(wall, ".2f"),
            number(cpu, ".2f"),
            number(mbps, ".1f"),
            number(ratio(wall, p0.wall_s if p0 else None), ".2f"),
            number(ratio(wall, limit.wall_s if limit else None), ".2f"),
            number(ratio(cpu, limit.cpu_s if limit else None), ".2f"),
            number(rss, ".0f"),
            number(pss, ".0f"),
            ok_cell(r),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def limit_table(rows: Sequence[Row]) -> list[str]:
    """One line per workload: the limit and its parts, and mrargo's and P0's ratios to it."""
    lines = [
        "| workload | limit wall s | limit CPU s | read (in map) | map | reduce | combiner (not in limit) | map alone, 1 process | "
        "mrargo wall s | mrargo CPU s | **mrargo / limit** | mrargo / limit (CPU) | P0 / limit |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for workload, title in TITLES.items():
        part = [r for r in rows if r.workload == workload]
        limit, mrargo, p0 = reference_row(part, LIMIT), reference_row(part, "mrargo"), reference_row(part, REFERENCE)
        if limit is None:
            continue
        q = limit.parts
        mw, mc = (mrargo.wall_s, mrargo.cpu_s) if mrargo else (None, None)
        cells = [
            title.split(" (")[0],
            number(q["limit_s"], ".2f"),
            number(q["limit_cpu"], ".2f"),
            number(q["read_s"], ".2f"),
            number(q["map_s"], ".2f"),
            number(q["reduce_s"], ".2f"),
            number(q["combine_s"], ".2f"),
            number(q["map_1proc_s"], ".2f"),
            number(mw, ".2f"),
            number(mc, ".2f"),
            "**" + number(ratio(mw, q["limit_s"]), ".2f") + "×**",
            number(ratio(mc, q["limit_cpu"]), ".2f") + "×",
            number(ratio(p0.wall_s if p0 else None, q["limit_s"]), ".2f") + "×",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines if len(lines) > 2 else []


def problems(rows: Iterable[Row]) -> list[str]:
    found = [r for r in rows if r.status in (MISMATCH, FAILED, SKIPPED)]
    if not found:
        return ["None: every peer that ran matched P0 exactly."]
    return [f"- **{r.peer}** / {r.workload}: {r.status}: {r.detail}" for r in found]


NOTES = """\
- **wall s**: seconds from starting the peer's process to its exit, output
  written; the median of the repeats.  Interpreter or JVM start-up is included.
  The page cache was warmed by reading the corpus once before the first run.
- **CPU s**: user + system seconds of the peer's whole process tree (from
  `wait4`), the median of the repeats.  Where the machine is shared, CPU
  seconds move much less than wall seconds: compare those.
- **MB/s**: corpus bytes (10⁶) over wall seconds.  **× P0**: wall over P0's
  wall for the same workload (below 1 is faster than P0).
- **limit**: the user-code limit (`bench/peers/limit.py`): the job's own
  mapper, then its own reducer, alone, in as many processes as mrargo has
  workers, on byte-balanced shares of the same input; the input is read in
  1 MiB blocks inside the timed map phase.  Its wall is the slowest process
  of each phase, summed over the phases; its CPU the sum over every process.
  Grouping between the phases is untimed, and the job's combiner is timed
  but left out (a job need not have one).  Its row's memory is not measured.
  **× limit**: wall over the limit's wall; **× limit (CPU)**: CPU seconds
  over the limit's CPU seconds, which includes none of process start-up.
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
    limits = limit_table(rows)
    if limits:
        out += ["", "## Against the user-code limit", "", "Seconds; the limit's parts are each the slowest process's.", ""] + limits
    out += ["", "## Problems", ""] + problems(rows)
    out += ["", "## How to read this", "", NOTES.format(floor=round(info.rss_floor / MIB), sample=SAMPLE_S), ""]
    return "\n".join(out)
