"""The peers: what each one runs for a workload, what it needs, and where its answer is.

A peer is a plain value.  Its ``command`` builds the argv for one workload;
the harness runs that argv under measurement and reads the output directory
back with ``normalize.read_result(out, peer.fmt, workload)``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from peersenv import PeersEnv
from results_io import CLASSIC, WORKLOADS

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
PEER_SCRIPTS = os.path.join(BENCH, "peers")
WORKERS = 2  # the machine's cores; every parallel peer gets the same
LIMIT_TIMINGS = "_limit.json"  # where the limit peer writes its own timings, in its output directory


@dataclass(frozen=True)
class Context:
    """What a peer's command may refer to."""

    corpus: str  # the corpus directory
    files: tuple[str, ...]  # its text files, in name order
    python: str  # the interpreter of mrargo's venv, also used by P0 and P0x2
    mrargo: str  # the mrargo console script
    env: PeersEnv  # the bench venv of the non-stdlib peers


@dataclass(frozen=True)
class Peer:
    name: str
    what: str  # one line for the report
    fmt: str  # output format, see normalize.FORMATS
    command: Callable[[Context, str, str], list[str]]  # (ctx, workload, out_dir) -> argv
    version: Callable[[Context], str]
    workloads: tuple[str, ...] = WORKLOADS
    requirements: tuple[str, ...] = ()  # pip specs for the bench venv
    needs: tuple[str, ...] = ()  # executables that must be on PATH
    extra_env: Mapping[str, str] = field(default_factory=dict)
    # A peer that times itself writes its timings here, in its output
    # directory; its wall and CPU in the report are those, not its process's.
    timing_file: str = ""

    def env(self) -> dict[str, str]:
        # PYTHONPATH=bench lets the peer scripts import tokenize_shared and results_io.
        # Python peers run as installed packages do, with their bytecode
        # cached: a shell that sets PYTHONDONTWRITEBYTECODE (this machine's
        # does) made every run compile mrargo's modules again, about 20 ms.
        base = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        return {**base, "PYTHONPATH": BENCH, **self.extra_env}


def first_line(argv: list[str]) -> str:
    """First non-empty line a command prints (on either stream), or 'unknown'."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    lines = [ln.strip() for ln in (done.stdout + done.stderr).splitlines() if ln.strip()]
    return lines[0] if lines else "unknown"


def python_version(python: str) -> str:
    return first_line([python, "-c", "import platform; print('CPython', platform.python_version())"])


def venv_version(*dists: str) -> Callable[[Context], str]:
    def version(ctx: Context) -> str:
        found = ctx.env.versions(list(dists))
        return ", ".join(f"{d} {found.get(d, 'not installed')}" for d in dists)

    return version


# --- mrargo: the examples, unchanged, through the CLI --------------------------------

# The job each workload runs: the examples, and the line-based index of bench/jobs.
JOBS = {
    "wordcount": os.path.join(REPO, "examples", "wordcount.py"),
    "indexer": os.path.join(REPO, "examples", "indexer.py"),
    "topwords": os.path.join(REPO, "examples", "topwords.py"),
    "lineindex": os.path.join(BENCH, "jobs", "line_index.py"),
}


def mrargo_command(ctx: Context, workload: str, out: str) -> list[str]:
    return [ctx.mrargo, "run", JOBS[workload], "-i", ctx.corpus, "-o", out, "-q", "--overwrite"]


def limit_command(ctx: Context, workload: str, out: str) -> list[str]:
    # The same interpreter and job file as the mrargo peer; as many processes as mrargo's workers.
    return [ctx.python, os.path.join(PEER_SCRIPTS, "limit.py"), workload, ctx.corpus, out, "--procs", str(WORKERS)]


def mrargo_version(ctx: Context) -> str:
    version = first_line([ctx.python, "-c", "import importlib.metadata as m; print(m.version('mrargo'))"])
    commit = first_line(["git", "-C", REPO, "describe", "--always", "--dirty"])
    return f"mrargo {version} ({commit})"


# --- P0 and P0x2 -----------------------------------------------------------------------


def p0_command(procs: int) -> Callable[[Context, str, str], list[str]]:
    def command(ctx: Context, workload: str, out: str) -> list[str]:
        return [ctx.python, os.path.join(PEER_SCRIPTS, "p0.py"), workload, ctx.corpus, out, "--procs", str(procs)]

    return command


# --- GNU coreutils -----------------------------------------------------------------------

# Lower-case first, then cut on anything not [a-z]: the shared tokenizer's
# order.  (On ASCII text the other order gives the same words; the corpus is
# ASCII.)  A leading separator yields one empty word, which normalize drops.
TOKENS = "cat -- \"$@\" | tr 'A-Z' 'a-z' | tr -cs 'a-z' '\\n'"
COUNT = f"{TOKENS} | sort --parallel={WORKERS} -S 1G | uniq -c"
COREUTILS_SCRIPTS = {
    "wordcount": f'{COUNT} > "$out/result.txt"',
    # head exits after 20 lines; cat drains the rest so sort never dies of SIGPIPE under pipefail.
    "topwords": f'{COUNT} | sort -k1,1nr -k2 | {{ head -n 20; cat > /dev/null; }} > "$out/result.txt"',
}


def coreutils_command(ctx: Context, workload: str, out: str) -> list[str]:
    script = f'set -euo pipefail; out=$1; shift; mkdir -p "$out"; {COREUTILS_SCRIPTS[workload]}'
    return ["bash", "-c", script, "coreutils", out, *ctx.files]


# --- the installed peers -----------------------------------------------------------------


def script_command(script: str) -> Callable[[Context, str, str], list[str]]:
    def command(ctx: Context, workload: str, out: str) -> list[str]:
        return [ctx.env.python, os.path.join(PEER_SCRIPTS, script), workload, ctx.corpus, out]

    return command


MRJOB_JOBS = {"wordcount": "mr_wordcount.py", "indexer": "mr_indexer.py", "topwords": "mr_topwords.py"}


def mrjob_command(ctx: Context, workload: str, out: str) -> list[str]:
    job = os.path.join(PEER_SCRIPTS, "mrjob_jobs", MRJOB_JOBS[workload])
    # --file ships the tokenizer into each task's working directory, where the job imports it.
    options = ["-r", "local", "--num-cores", str(WORKERS), "--file", os.path.join(BENCH, "tokenize_shared.py")]
    return [ctx.env.python, job, *options, "--output-dir", out, "--no-cat-output", *ctx.files]


def spark_version(ctx: Context) -> str:
    java = first_line(["java", "-version"])
    return f"{venv_version('pyspark')(ctx)}; {java}"


PEERS: tuple[Peer, ...] = (
    Peer("p0", "plain Python, one process: Counter / dict loop", "tsv", p0_command(1), lambda ctx: python_version(ctx.python)),
    Peer("p0x2", "P0 over two processes (files in two halves), merged", "tsv", p0_command(2), lambda ctx: python_version(ctx.python)),
    Peer("mrargo", "mrargo run examples/JOB.py (default: 2 workers)", "json", mrargo_command, mrargo_version),
    Peer(
        "limit",
        f"the user-code limit: the job's own mapper and reducer alone, {WORKERS} processes (peers/limit.py)",
        "json",
        limit_command,
        lambda ctx: python_version(ctx.python),
        timing_file=LIMIT_TIMINGS,
    ),
    Peer(
        "coreutils",
        f"LC_ALL=C cat | tr | tr | sort --parallel={WORKERS} -S 1G | uniq -c",
        "uniq",
        coreutils_command,
        lambda ctx: first_line(["sort", "--version"]),
        workloads=("wordcount", "topwords"),
        needs=("bash", "cat", "tr", "sort", "uniq", "head"),
        extra_env={"LC_ALL": "C"},
    ),
    Peer(
        "mrjob",
        f"mrjob -r local --num-cores {WORKERS} (the local runner works on Python 3.11)",
        "json",
        mrjob_command,
        venv_version("mrjob"),
        workloads=CLASSIC,
        requirements=("mrjob==0.7.4",),
    ),
    Peer(
        "dask",
        f"dask.bag, multiprocessing scheduler, {WORKERS} workers",
        "tsv",
        script_command("dask_bag.py"),
        venv_version("dask"),
        workloads=CLASSIC,
        requirements=("dask[bag]==2026.8.0",),
    ),
    Peer(
        "pyspark",
        f"PySpark local[{WORKERS}], reduceByKey",
        "tsv",
        script_command("spark.py"),
        spark_version,
        workloads=CLASSIC,
        requirements=("pyspark==4.3.0",),
        needs=("java",),
    ),
    Peer(
        "duckdb",
        f"DuckDB SQL, {WORKERS} threads: regexp_extract_all + unnest + GROUP BY",
        "tsv",
        script_command("duckdb_sql.py"),
        venv_version("duckdb"),
        workloads=CLASSIC,
        requirements=("duckdb==2.0.0",),
    ),
)


def select(names: str) -> list[Peer]:
    """'all' or a comma list of peer names; P0 always comes first, as the reference."""
    by_name = {p.name: p for p in PEERS}
    wanted = list(by_name) if names == "all" else [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in by_name]
    if unknown:
        raise ValueError(f"unknown peer(s) {', '.join(unknown)}; expected some of: {', '.join(by_name)}")
    return [by_name["p0"]] + [by_name[n] for n in wanted if n != "p0"]


def missing_tools(peer: Peer) -> list[str]:
    return [tool for tool in peer.needs if shutil.which(tool) is None]
