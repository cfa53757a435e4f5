"""Where a whole ``mrargo run`` spends its CPU: py-spy samples of every process, sorted into stages.

    python bench/spy_profile.py -- .venv/bin/mrargo run examples/wordcount.py -i DIR -o OUT -q --overwrite
    python bench/spy_profile.py --raw samples.txt          # classify samples taken before

py-spy (installed into bench/.venv-peers on first use) samples the driver
and every forked task at ``--rate`` Hz, with ``--subprocesses``.  Each
sample's stack is put in one stage: the user's code (any frame of the job
file, whatever it calls), else the innermost frame of mrargo that names a
stage (reading, per-pair grouping, combining, encoding, sorting, writing,
the reduce side's merge and decode, output, commit, forking a task), else
start-up (imports) or other.  Each stage is shown per process kind (map
task, reduce task, driver) in samples, in sampled seconds (samples / rate)
and as a share of all samples.  Read the shares: py-spy stops each process
to sample it, and counts a process that is runnable but waiting for a core
as busy, so sampled seconds run above the CPU seconds of an unsampled run.
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import tempfile

from peersenv import PeersEnv

BENCH = os.path.dirname(os.path.abspath(__file__))
PY_SPY = "py-spy==0.4.2"

# (file suffix, function names or "*", stage), tried on mrargo's frames from the innermost out.
RULES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("runtime/inputs.py", ("*",), "read + decode input"),
    ("store.py", ("open_input", "open_random", "read_lines_block"), "read + decode input"),
    ("runtime/mapside.py", ("_group_records_c", "_group_records", "_group_one", "map_records"), "per-pair grouping (count/append)"),
    ("runtime/mapside.py", ("_combined", "_take_waiting", "_check_groups", "_drain_groups"), "combine bookkeeping"),
    ("runtime/mapside.py", ("_bucket", "_encoded"), "encode + partition"),
    ("runtime/mapside.py", ("_sort_records",), "sort"),
    ("runtime/mapside.py", ("spill", "_segment_blocks"), "spill"),
    ("runtime/mapside.py", ("finish",), "free the buffers after writing"),
    ("runtime/runfile.py", ("write_all", "_write_packed", "_flush_block", "write", "end_segment"), "pack + write run file"),
    ("runtime/runfile.py", ("*",), "read + merge runs"),
    ("store.py", ("range_reader",), "read + merge runs"),
    ("runtime/reduceside.py", ("*",), "reduce: group by key"),
    ("runtime/output.py", ("*",), "output: encode + write"),
    ("runtime/commit.py", ("*",), "commit"),
    ("runtime/tasks.py", ("run_split", "run_shuffle", "step_outputs", "split_count"), "split + shuffle"),
    ("local/executor.py", ("_start", "_finished", "_run_phase", "_check_timeouts"), "driver: fork + wait for tasks"),
    ("local/executor.py", ("_child_main", "run_task"), "task start + end"),
    ("runtime/layout.py", ("*",), "markers (JSON)"),
    ("store.py", ("*",), "store (list, write, rename, remove)"),
)
# The codec works for its caller: decoding in a reduce, encoding in a map or for the output.
CODEC = "runtime/codec.py"


def stage(frames: list[str], job_file: str) -> str:
    """The stage of one stack, frames from the root to the leaf ("function (file:line)").

    py-spy names a job loaded from a path by its base name: ``mapper (wordcount.py:12)``.
    """
    for frame in frames:
        where = frame.partition(" (")[2]
        if where.rsplit(":", 1)[0].rsplit("/", 1)[-1] == job_file:
            return "USER: " + frame.split(" (", 1)[0]
    in_codec = False
    for frame in reversed(frames):
        name, _, where = frame.partition(" (")
        path = where.rsplit(":", 1)[0]
        in_codec = in_codec or path.endswith(CODEC)
        for suffix, names, label in RULES:
            if path.endswith(suffix) and ("*" in names or name in names):
                return "reduce: decode" if in_codec and label == "reduce: group by key" else label
    if any("importlib" in f or "<module>" in f for f in frames):
        return "start-up: imports"
    return "other"


def process_kind(frames: list[str]) -> str:
    text = ";".join(frames)
    if "run_map (" in text:
        return "map task"
    if "run_reduce (" in text:
        return "reduce task"
    return "driver"


def classify(raw: str, job_file: str) -> collections.Counter[tuple[str, str]]:
    """(process kind, stage) -> samples, from py-spy's raw (collapsed) output."""
    found: collections.Counter[tuple[str, str]] = collections.Counter()
    with open(raw, encoding="utf-8", errors="replace") as f:
        for line in f:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not stack or not count.isdigit():
                continue
            frames = [fr for fr in stack.split(";") if not fr.startswith("process ")]
            found[(process_kind(frames), stage(frames, job_file))] += int(count)
    return found


def record(argv: list[str], raw: str, rate: int) -> None:
    env = PeersEnv(os.path.join(BENCH, ".venv-peers"))
    env.ensure((PY_SPY,))
    spy = os.path.join(os.path.dirname(env.python), "py-spy")
    cmd = [spy, "record", "--subprocesses", "--rate", str(rate), "--format", "raw", "--output", raw, "--", *argv]
    # py-spy may exit 1 after writing every sample ("No child process" once
    # the forked tasks are reaped); the samples file is what counts.
    subprocess.run(cmd, check=False)
    if not os.path.exists(raw):
        raise SystemExit(f"spy_profile: py-spy wrote no samples to {raw}")


def report(found: collections.Counter[tuple[str, str]], rate: int) -> str:
    total = sum(found.values()) or 1
    lines = ["| process | stage | samples | sampled s | share |", "| --- | --- | ---: | ---: | ---: |"]
    for kind in ("map task", "reduce task", "driver"):
        part = sorted(((s, n) for (k, s), n in found.items() if k == kind), key=lambda x: -x[1])
        for s, n in part:
            lines.append(f"| {kind} | {s} | {n} | {n / rate:.2f} | {100 * n / total:.1f}% |")
        sub = sum(n for _, n in part)
        if sub:
            lines.append(f"| {kind} | **all** | {sub} | {sub / rate:.2f} | {100 * sub / total:.1f}% |")
    user = sum(n for (_, s), n in found.items() if s.startswith("USER"))
    lines.append(f"| all | **user code** | {user} | {user / rate:.2f} | {100 * user / total:.1f}% |")
    lines.append(f"| all | **everything** | {total} | {total / rate:.2f} | 100% |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--raw", help="classify this py-spy raw file instead of recording")
    ap.add_argument("--keep", help="with a command: keep the raw samples here")
    ap.add_argument("--rate", type=int, default=200, help="samples a second (default 200)")
    ap.add_argument("--job-file", help="the job's file name, whose frames are the user's (default: the .py after 'run')")
    ap.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not args.raw and not command:
        ap.error("give a command after --, or --raw FILE")
    job_file = args.job_file or next((os.path.basename(a) for a in command if a.endswith(".py")), "")
    if not job_file:
        ap.error("--job-file: which file is the job's?")
    raw = args.raw or args.keep or os.path.join(tempfile.mkdtemp(prefix="spy-"), "samples.txt")
    if command:
        record(command, raw, args.rate)
    print(report(classify(raw, job_file), args.rate))


if __name__ == "__main__":
    main()
