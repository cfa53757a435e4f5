"""Benchmark mrargo against its peers on one corpus, and write a Markdown report.

    python bench/run.py [--size 500MB] [--files 64] [--peers all|name,name]
                        [--workloads wordcount,indexer,topwords,lineindex] [--corpus DIR]
                        [--out bench/results/DATE.md] [--repeat 1]

Every peer runs every workload it supports as its own process tree, measured
by measure.run_measured; its output is read back and compared with P0's.
See bench/README.md for what is measured and the caveats.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import shutil
import statistics
import sys
import tempfile
from dataclasses import dataclass
from typing import Any

import corpus_cache
import machine
from lineup import BENCH, REPO, Context, Peer, missing_tools, select
from measure import Measurement, run_measured
from normalize import OutputError, Result, compare, read_result
from peersenv import InstallError, PeersEnv
from report import FAILED, LIMIT_PARTS, MISMATCH, NOT_APPLICABLE, OK, SKIPPED, Row, RunInfo, markdown
from results_io import WORKLOADS

LOG_TAIL = 12


@dataclass(frozen=True)
class Bench:
    ctx: Context
    work: str  # scratch directory for outputs and logs
    repeat: int
    timeout_s: float


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/run.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", default="500MB", help="corpus size, e.g. 20MB, 500MB, 4GB (default: 500MB)")
    p.add_argument("--files", type=int, default=64, help="corpus files (default: 64)")
    p.add_argument("--corpus", help="use this directory of text files instead of a generated corpus")
    p.add_argument("--peers", default="all", help="'all' or a comma list; p0 always runs, as the reference")
    p.add_argument("--workloads", default=",".join(WORKLOADS), help=f"comma list of {', '.join(WORKLOADS)}")
    p.add_argument("--out", help="report path (default: bench/results/<date>.md)")
    p.add_argument("--repeat", type=int, default=1, help="runs per peer and workload; the median wall time is reported")
    p.add_argument("--timeout", type=float, default=3600, help="seconds before one run is killed (default: 3600)")
    p.add_argument("--mrargo", default=default_mrargo(), help="the mrargo console script (default: the repo's .venv)")
    p.add_argument("--keep-work", action="store_true", help="keep the peers' outputs and logs")
    args = p.parse_args(argv)
    args.workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    bad = [w for w in args.workloads if w not in WORKLOADS]
    if bad or args.repeat < 1:
        p.error(f"--workloads: expected some of {', '.join(WORKLOADS)}, found {', '.join(bad)}" if bad else "--repeat must be at least 1")
    return args


def default_mrargo() -> str:
    local = os.path.join(REPO, ".venv", "bin", "mrargo")
    return local if os.path.exists(local) else (shutil.which("mrargo") or "mrargo")


def prepare_corpus(args: argparse.Namespace) -> tuple[str, list[str]]:
    if args.corpus:
        return os.path.abspath(args.corpus), corpus_cache.existing(os.path.abspath(args.corpus))
    directory = corpus_cache.cached_corpus(corpus_cache.parse_size(args.size), args.files)
    return directory, corpus_cache.existing(directory)


def log_tail(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = [ln.rstrip() for ln in f if ln.strip()]
    return " | ".join(lines[-LOG_TAIL:])


def unavailable(peer: Peer, env: PeersEnv) -> str:
    """Why the peer cannot run here, or '' if it can (installing its packages if needed)."""
    tools = missing_tools(peer)
    if tools:
        return f"not on PATH: {', '.join(tools)}"
    if not peer.requirements:
        return ""
    try:
        env.ensure(peer.requirements)
    except InstallError as err:
        return f"could not install {' '.join(peer.requirements)}: {err}"
    return ""


def measure_runs(bench: Bench, peer: Peer, workload: str) -> tuple[list[Measurement], list[dict[str, Any]], str, str]:
    """Run the peer bench.repeat times; return the measurements, its own timings, the last output dir and an error."""
    runs: list[Measurement] = []
    timings: list[dict[str, Any]] = []
    out = ""
    for i in range(bench.repeat):
        out = os.path.join(bench.work, f"{peer.name}-{workload}-{i}")
        log = out + ".log"
        shutil.rmtree(out, ignore_errors=True)  # Spark refuses an existing output directory
        # A TMPDIR of its own keeps the peer's scratch (sort's spills, mrjob's temp dirs) in the work dir.
        tmp = out + ".tmp"
        os.makedirs(tmp, exist_ok=True)
        env = {**peer.env(), "TMPDIR": tmp}
        m = run_measured(peer.command(bench.ctx, workload, out), log, env=env, timeout_s=bench.timeout_s)
        shutil.rmtree(tmp, ignore_errors=True)
        if m.timed_out:
            return runs, timings, out, f"killed after {bench.timeout_s:.0f} s; log: {log_tail(log)}"
        if m.returncode != 0:
            return runs, timings, out, f"exit {m.returncode}; log: {log_tail(log)}"
        if peer.timing_file:
            try:
                with open(os.path.join(out, peer.timing_file), encoding="utf-8") as f:
                    timings.append(json.load(f))
            except (OSError, ValueError) as err:
                return runs, timings, out, f"no timings in {peer.timing_file}: {err}"
        runs.append(m)
    return runs, timings, out, ""


def check(out: str, peer: Peer, workload: str, reference: Result | None) -> tuple[str, str, Result | None]:
    """(status, detail, result) of the output a peer left in out."""
    try:
        result = read_result(out, peer.fmt, workload)
    except (OSError, OutputError, ValueError) as err:
        return MISMATCH, f"unreadable output: {err}", None
    if reference is None:
        return (OK, "", result) if peer.name == "p0" else (MISMATCH, "unchecked: P0 gave no reference", result)
    diff = compare(result, reference)
    return (MISMATCH, diff, result) if diff else (OK, "", result)


def run_peer(bench: Bench, peer: Peer, workload: str, reference: Result | None) -> tuple[Row, Result | None]:
    if workload not in peer.workloads:
        return Row(workload, peer.name, NOT_APPLICABLE), None
    why = unavailable(peer, bench.ctx.env)
    if why:
        print(f"bench: SKIPPING {peer.name} / {workload}: {why}", flush=True)
        return Row(workload, peer.name, SKIPPED, why), None
    runs, timings, out, error = measure_runs(bench, peer, workload)
    if error:
        print(f"bench: {peer.name} / {workload} FAILED: {error}", flush=True)
        return Row(workload, peer.name, FAILED, error), None
    status, detail, result = check(out, peer, workload, reference)
    if timings:
        # A self-timed peer (the limit): its own figures, not its process's, which include untimed work.
        parts = {k: statistics.median(float(t[k]) for t in timings) for k in LIMIT_PARTS}
        return Row(workload, peer.name, status, detail, wall_s=parts["limit_s"], cpu_s=parts["limit_cpu"], parts=parts), result
    row = Row(
        workload,
        peer.name,
        status,
        detail,
        wall_s=statistics.median(m.wall_s for m in runs),
        cpu_s=statistics.median(m.cpu_s for m in runs),
        max_rss=max(m.max_rss for m in runs),
        tree_pss=max(m.tree_pss for m in runs),
        floor_rss=max(m.floor_rss for m in runs),
    )
    return row, result


def progress(row: Row) -> None:
    if row.wall_s is None:
        return
    mem = f"max RSS/proc {(row.max_rss or 0) / 2**20:6.0f} MiB, tree PSS {(row.tree_pss or 0) / 2**20:6.0f} MiB"
    if row.parts:
        mem = "self-timed: " + ", ".join(f"{k} {v:.2f}" for k, v in row.parts.items())
    note = "" if row.status == OK else f"  {row.status}: {row.detail}"
    print(f"  {row.workload:9} {row.peer:9} {row.wall_s:8.2f} s  CPU {row.cpu_s or 0:8.2f} s  {mem}{note}", flush=True)


def run_all(bench: Bench, peers: list[Peer], workloads: list[str]) -> list[Row]:
    rows: list[Row] = []
    for workload in workloads:
        reference: Result | None = None
        for peer in peers:
            row, result = run_peer(bench, peer, workload, reference)
            if peer.name == "p0" and row.status == OK:
                reference = result
            rows.append(row)
            progress(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        peers = select(args.peers)
        corpus, files = prepare_corpus(args)
    except ValueError as err:
        print(f"bench: {err}", file=sys.stderr)
        return 2
    env = PeersEnv(os.path.join(BENCH, ".venv-peers"))
    # P0 runs on mrargo's own interpreter, so the two differ only in the engine.
    python = os.path.join(os.path.dirname(args.mrargo), "python")
    ctx = Context(corpus, tuple(files), python if os.path.exists(python) else sys.executable, args.mrargo, env)
    info_machine = machine.describe()
    corpus_bytes = corpus_cache.warm(files)
    work = tempfile.mkdtemp(prefix="mrargo-bench-")
    print(f"bench: {len(files)} files, {corpus_bytes / 1e6:.1f} MB in {corpus}; outputs and logs in {work}", flush=True)
    try:
        rows = run_all(Bench(ctx, work, args.repeat, args.timeout), peers, args.workloads)
    finally:
        if not args.keep_work:
            shutil.rmtree(work, ignore_errors=True)
    today = datetime.date.today().isoformat()
    info = RunInfo(
        date=today,
        command=shlex.join(["python", "bench/run.py", *(sys.argv[1:] if argv is None else argv)]),
        corpus=corpus,
        corpus_bytes=corpus_bytes,
        files=len(files),
        repeat=args.repeat,
        rss_floor=max((r.floor_rss for r in rows), default=0),
        machine={**info_machine, "Python (harness)": sys.version.split()[0]},
        versions=[(p.name, p.version(ctx), p.what) for p in peers],
    )
    text = markdown(info, rows)
    out = args.out or os.path.join(BENCH, "results", f"{today}.md")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        f.write(text)
    print("\n" + text + f"\nbench: report written to {out}")
    return 1 if any(r.status in (MISMATCH, FAILED) for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
