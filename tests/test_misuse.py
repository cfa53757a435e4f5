"""Misuse, both ways a job runs here: `mrargo run job.py` and `mrargo run SPEC.yaml`.

Each case is a mistake a user makes: a method that returns instead of
yielding, a value JSON cannot hold, a bad input, a bad option, an output
over an input.  Both ways must end alike: the exit code of the cause
(mrargo.errors), one line on stderr that names the task, file or option
and says the same thing, and nothing in the output.  A spec is compiled
once per job file and plan flags: the flags that shape a plan go to
`mrargo compile` for a spec, as they must.  A job file that cannot be
used fails at compile time on the spec side.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import JOBS, ROOT, TEST_IMAGE, compile_args, mrargo

from mrargo.cli import build_parser
from mrargo.cli import main as cli_main
from mrargo.cli.run import JOB_ONLY, SPEC_ONLY
from mrargo.local import LocalOptions
from mrargo.plan import DEFAULT_RETRIES
from mrargo.plan.model import Options

WORK_ROOT = "s3://unused/work"  # never used: a spec run maps the work root to a temporary store


@dataclass(frozen=True)
class Case:
    """One misuse.  ``says`` is the end of the error line both ways ({data}, {out}, {input} and {jobs} filled in; * is any text)."""

    id: str
    code: int
    says: str
    run: tuple[str, ...] = ()  # flags for mrargo run, both ways
    plan: tuple[str, ...] = ()  # plan flags: to mrargo run for a job file, to mrargo compile for a spec
    job: str = "misuse.py"
    input: str = "{data}/words.txt"
    output: str = "{out}"
    spec_says: str = ""  # when the spec's words differ (the fix that works there)
    node: str = "map(0:0)"  # the spec's node that fails, once: exit 3 stops its retryStrategy; "" when refused before any pod
    retried: bool = False  # a local run retries an exception in job code, as Hadoop does
    unusable: bool = False  # the job file or a plan flag: on the spec side, mrargo compile refuses it
    usage: bool = False  # argparse's own error: its usage lines come first


def user(how: str, says: str, node: str = "map(0:0)", retried: bool = False) -> Case:
    return Case(how, 3, says, run=("--param", f"how={how}"), node=node, retried=retried)


def option(id: str, says: str, *flags: str, plan: bool = False, usage: bool = False) -> Case:
    return Case(id, 2, says, plan=flags if plan else (), run=() if plan else flags, node="", unusable=plan, usage=usage)


def job_file(id: str, job: str, says: str) -> Case:
    return Case(id, 3, says, job=job, node="", unusable=True)


NONE = "must yield (key, value) pairs; it returned None (write `yield key, value`, not `return`)"
NOT_A_PAIR = "must yield (key, value) pairs, got str 'go'"
NOT_JSON = "NaN and infinity are not JSON numbers; use None or a string"
OUTSIDE = "choose an output outside every input"

# fmt: off
CASES = [
    # Job code.  Returning None or yielding a str never passes: no retry.
    user("mapper-returns-none", f"map 1/1 of step 1: mapper {NONE}"),
    user("combiner-returns-none", f"map 1/1 of step 1: combiner {NONE}"),
    user("reducer-returns-none", f"reduce */2 of step 1: reducer {NONE}", node="reduce(*)"),
    user("mapper-yields-str", f"map 1/1 of step 1: {NOT_A_PAIR}"),
    user("combiner-yields-str", f"map 1/1 of step 1: the combiner {NOT_A_PAIR}"),
    user("reducer-yields-str", f"reduce */2 of step 1: {NOT_A_PAIR}", node="reduce(*)"),
    user("mapper-raises", "map 1/1 of step 1: mapper raised ValueError: cannot digest alpha (input {data}/words.txt at byte 0)", retried=True),
    user("combiner-raises", "map 1/1 of step 1: combiner raised RuntimeError: the combiner gives up on * (input key '*')", retried=True),
    user("reducer-raises", 'reduce */2 of step 1: reducer raised RuntimeError: the reducer gives up on * (input key "*")', node="reduce(*)",
         retried=True),
    user("nan-value", f"map 1/1 of step 1: cannot encode float nan: {NOT_JSON}"),
    user("infinite-key", f"map 1/1 of step 1: cannot encode float inf: {NOT_JSON}"),
    user("set-value", "reduce */2 of step 1: cannot encode set: keys and values must be JSON data (str, int, float, bool, None, list, dict)",
         node="reduce(*)"),
    user("float-counter", "map 1/1 of step 1: mapper raised TypeError: increment_counter('words', 'seen', 0.5): the amount must be an int, "
         "got float; * (input {data}/words.txt at byte 0)", retried=True),
    user("bool-counter", "map 1/1 of step 1: mapper raised TypeError: increment_counter('words', 'seen', True): the amount must be an int, "
         "got bool; * (input {data}/words.txt at byte 0)", retried=True),
    user("partition-out-of-range", "map 1/1 of step 1: partition('*', 2) returned 2; it must be an int in range(2)"),
    user("partition-not-int", "map 1/1 of step 1: partition('*', 2) returned '0'; it must be an int in range(2)"),
    # Input.
    Case("missing-input", 3, "input '{data}/nope.txt' does not exist; check the path", input="{data}/nope.txt", node="split"),
    Case("empty-glob", 3, "input '{data}/*.nothing' matched no files; check the path or glob", input="{data}/*.nothing", node="split"),
    Case("empty-folder", 3, "input '{data}/empty' matched no files; check the path or glob", input="{data}/empty", node="split"),
    Case("invalid-utf8", 3, "{data}/bad.txt: invalid UTF-8 at byte 3; fix the file or pass --decode-errors replace|skip to mrargo run, "
         "or to mrargo compile for a spec", input="{data}/bad.txt"),
    Case("truncated-gz", 3, "{data}/cut.txt.gz: cannot decompress (*); the file is truncated or corrupt", input="{data}/cut.txt.gz"),
    Case("over-long-line", 3, "{data}/long.txt: a record at byte 0 is longer than --max-record-mb 1; fix the input or pass a higher "
         "--max-record-mb to mrargo run, or to mrargo compile for a spec", input="{data}/long.txt", plan=("--max-record-mb", "1")),
    Case("invalid-json", 3, "{data}/bad.jsonl at byte 35: invalid JSON (*); fix the line or use INPUT_FORMAT = 'lines'",
         job="secondary.py", input="{data}/bad.jsonl", node="map-1(0:0)"),  # two steps: map-1 is step 1's
    # The output, checked before the first task (a spec's split).  A spec
    # cannot take --overwrite: its fix is another -p output= or a recompile.
    Case("existing-output", 3, "output {input}/old-output already exists; remove it, choose another output, or pass --overwrite to replace it",
         spec_says="output {input}/old-output already exists; remove it, choose another output, or compile with --overwrite to replace it",
         output="{input}/old-output", node="split"),
    Case("output-is-input", 3, f"output {{input}} is input {{input}}; {OUTSIDE}", input="{input}", output="{input}", node="split"),
    Case("output-inside-input", 3, f"output {{input}}/out is inside input {{input}}, so a run over that input would read this output; {OUTSIDE}",
         input="{input}", output="{input}/out", node="split"),
    Case("output-holds-input", 3, f"output {{input}} holds input {{input}}/words.txt, which --overwrite would delete; {OUTSIDE}",
         input="{input}/words.txt", output="{input}", node="split"),
    # The command line, refused before anything runs.
    option("bad-param", "--param 'oops' must look like name=value", "--param", "oops"),
    option("unknown-option", "mrargo: error: unrecognized arguments: --nope", "--nope", usage=True),
    option("workers-zero", "--workers must be at least 1, got 0", "--workers", "0"),
    option("workers-not-a-number", "mrargo run: error: argument --workers: invalid int value: 'x'", "--workers", "x", usage=True),
    option("timeout-zero", "--timeout must be more than 0 seconds, got 0", "--timeout", "0"),
    option("timeout-negative", "--timeout must be more than 0 seconds, got -5", "--timeout", "-5"),
    option("split-mb-negative", "--split-mb must be 0 (chosen per run) or more, got -1", "--split-mb", "-1", plan=True),
    option("max-bad-records-negative", "--max-bad-records must be 0 or more, got -1", "--max-bad-records", "-1", plan=True),
    option("bad-decode-errors", "error: argument --decode-errors: invalid choice: 'lenient' (choose from *)", "--decode-errors", "lenient",
           plan=True, usage=True),
    # A job file that cannot be used.
    job_file("no-job", "nojob.py", "{jobs}/nojob.py defines no MapReduce subclass; define one, e.g. class MyJob(MapReduce)"),
    job_file("two-jobs", "twojobs.py", "{jobs}/twojobs.py defines several jobs (One, Two); choose one with {jobs}/twojobs.py:ClassName"),
    job_file("syntax-error", "syntaxerror.py", "{jobs}/syntaxerror.py:3: syntax error: expected ':'"),
    job_file("missing-job-file", "nope.py", "job file '{jobs}/nope.py' does not exist; pass a .py file or module:Class"),
]
# fmt: on


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("misuse-data")
    (d / "words.txt").write_text("alpha bb\nccc alpha\n")
    (d / "bad.txt").write_bytes(b"ok \xff\xfe bad\n")
    whole = gzip.compress(b"some words here\n" * 20000)
    (d / "cut.txt.gz").write_bytes(whole[: len(whole) // 2])
    (d / "long.txt").write_text("a " * 1_600_000 + "\n")  # 3.2 MB: past 1 MB even with a read block's slack
    (d / "bad.jsonl").write_text('{"user": "a", "t": 1, "what": "x"}\n{oops\n')
    (d / "empty").mkdir()
    return d


@pytest.fixture(scope="module")
def specs(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The spec of a job file compiled with some plan flags, compiled once."""
    made: dict[tuple[str, tuple[str, ...]], Path] = {}
    d = tmp_path_factory.mktemp("misuse-specs")

    def spec(job: str, plan: tuple[str, ...]) -> Path:
        if (job, plan) not in made:
            declare = ["--param", "how="] if job == "misuse.py" else []  # so that --param how=... may set it
            path = d / f"spec-{len(made)}.yaml"
            path.write_text(compile_args(["compile", os.path.join(JOBS, job), "--work-root", WORK_ROOT, *declare, *plan]))
            made[job, plan] = path
        return made[job, plan]

    return spec


def pattern(text: str) -> str:
    return ".*?".join(re.escape(part) for part in text.split("*"))


def compile_cli(argv: list[str]) -> subprocess.CompletedProcess[str]:
    """`mrargo compile ARGV` in this process, where hera is imported already: a second faster than a new one."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = cli_main(["compile", *argv])
        except SystemExit as e:  # argparse's own errors
            code = int(e.code or 0)
    return subprocess.CompletedProcess(argv, code, "", err.getvalue())


def snapshot(d: Path) -> dict[str, bytes | None]:
    """Every file's bytes and every folder (None) under ``d``."""
    return {str(p.relative_to(d)): p.read_bytes() if p.is_file() else None for p in sorted(d.rglob("*"))}


@pytest.mark.parametrize("way", ["job", "spec"])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_misuse_ends_alike_both_ways(case: Case, way: str, data: Path, specs: Any, tmp_path: Path) -> None:
    inputs = tmp_path / "input"  # a folder of the test's own, for the cases whose output overlaps it
    inputs.mkdir()
    shutil.copy(data / "words.txt", inputs / "words.txt")
    (inputs / "old-output").mkdir()
    (inputs / "old-output" / "part-00000").write_text('"old"\t1\n')
    names = {"data": str(data), "out": str(tmp_path / "out"), "input": str(inputs), "jobs": JOBS}
    out = case.output.format(**names)
    before = snapshot(inputs)
    tmp = tmp_path / "tmp"  # the run's TMPDIR: scratch, pods and stores go here
    tmp.mkdir()
    io_args = ["-i", case.input.format(**names), "-o", out, "-q", *case.run]
    job = os.path.join(JOBS, case.job)
    if way == "job":
        proc = mrargo("run", job, *io_args, *case.plan, env={"TMPDIR": str(tmp)}, check=False)
    elif case.unusable:
        proc = compile_cli([job, "--work-root", WORK_ROOT, "--image", TEST_IMAGE, *case.plan])
    else:
        spec = specs(case.job, case.plan)
        proc = mrargo("run", str(spec), *io_args, "--no-backoff", env={"TMPDIR": str(tmp)}, check=False)

    assert proc.returncode == case.code, proc.stderr
    lines = proc.stderr.strip().splitlines()
    if not case.usage:
        assert len(lines) == 1, proc.stderr  # one line, no traceback, no tree (-q)
    line = lines[-1]
    says = (case.spec_says if way == "spec" and case.spec_says else case.says).format(**names)
    if way == "job" and case.retried:
        says += f" after {DEFAULT_RETRIES + 1} attempts"
    assert re.search(pattern(says) + "$", line), f"{line!r}\ndoes not end with\n{says!r}"
    assert line.startswith(("mrargo: error: ", "mrargo run: error: ", "mrargo compile: error: "))
    if way == "job" and not case.retried:
        assert " attempts" not in line  # exactly one attempt
    if way == "spec" and case.node:
        node = pattern(f"node {case.node} after 1 attempt failed (retryStrategy.expression evaluated to false): main: Error (exit code 3): ")
        assert re.search(node, line), line

    # Nothing partial in the output, nothing changed in an input (nor an
    # output made inside it), nothing left in TMPDIR but a failed spec
    # run's failed pods, which podGC OnPodSuccess keeps for their logs.
    assert snapshot(inputs) == before
    if not out.startswith(str(inputs)):
        assert not os.path.exists(out)
    left = [n for n in os.listdir(tmp) if not (way == "spec" and n.startswith("mrargo-pods-"))]
    assert left == []


# The plan flag that the message of each of these cases names as the fix.
FIXES = {"invalid-utf8": ("--decode-errors", "replace"), "over-long-line": ("--max-record-mb", "4"), "existing-output": ("--overwrite",)}


@pytest.mark.parametrize("way", ["job", "spec"])
@pytest.mark.parametrize("id", sorted(FIXES))
def test_the_fix_a_message_names_works_where_it_is_shown(id: str, way: str, data: Path, specs: Any, tmp_path: Path) -> None:
    # Given to mrargo run for a job file, and to mrargo compile for a spec, as the messages say.
    case = next(c for c in CASES if c.id == id)
    (tmp_path / "old-output").mkdir()
    (tmp_path / "old-output" / "part-00000").write_text('"old"\t1\n')
    names = {"data": str(data), "out": str(tmp_path / "out"), "input": str(tmp_path)}
    out = case.output.format(**names)
    io_args = ["-i", case.input.format(**names), "-o", out, "-q"]
    if way == "job":
        proc = mrargo("run", os.path.join(JOBS, case.job), *io_args, *FIXES[id], check=False)
    else:
        proc = mrargo("run", str(specs(case.job, FIXES[id])), *io_args, "--no-backoff", check=False)
    assert proc.returncode == 0, proc.stderr
    assert os.path.exists(os.path.join(out, "_SUCCESS"))


# -- options: each kind of JOB takes its own -------------------------------------------------

# A value for every flag of `mrargo run` that only one kind of JOB takes.  Some
# are the default: a flag on the command line is given, whatever its value.
GIVEN = {
    "reducers": ["--reducers", "3"],
    "retries": ["--retries", str(DEFAULT_RETRIES)],  # the default value, given: still refused
    "overwrite": ["--overwrite"],
    "work_dir": ["--work-dir", "/tmp/w"],
    "keep_intermediate": ["--keep-intermediate"],
    "sort_buffer_mb": ["--sort-buffer-mb", "7"],
    "split_mb": ["--split-mb", str(Options().split_mb)],
    "max_record_mb": ["--max-record-mb", "7"],
    "max_bad_records": ["--max-bad-records", "7"],
    "decode_errors": ["--decode-errors", "strict"],
    "max_tasks": ["--max-tasks", "7"],
    "parameter": ["-p", "n=3"],
    "store": ["--store", "/tmp/s"],
    "no_backoff": ["--no-backoff"],
}
SPEC = os.path.join(ROOT, "workflows", "wordcount.workflow.yaml")


def test_every_flag_of_the_tables_is_tried() -> None:
    assert set(GIVEN) == set(JOB_ONLY) | set(SPEC_ONLY)


@pytest.mark.parametrize("dest", sorted(JOB_ONLY))
def test_a_flag_that_shapes_the_plan_is_refused_for_a_spec(dest: str, capsys: pytest.CaptureFixture[str]) -> None:
    flag = GIVEN[dest][0]
    assert cli_main(["run", SPEC, "-o", "/tmp/never", *GIVEN[dest]]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"mrargo: error: {flag}") and err.endswith(
        f" does not apply to a compiled spec, which fixed it at compile time; {JOB_ONLY[dest]}\n"
    )
    # The fix it names is one that works: mrargo compile takes the flag (--work-dir's fix is run's own --store).
    if "compile" in JOB_ONLY[dest]:
        build_parser("compile").parse_args(["compile", "job.py", *GIVEN[dest]])


@pytest.mark.parametrize("dest", sorted(SPEC_ONLY))
def test_a_flag_of_spec_runs_is_refused_for_a_job_file(dest: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    flag = GIVEN[dest][0]
    argv = ["run", os.path.join(JOBS, "misuse.py"), "-i", str(tmp_path / "in"), "-o", str(tmp_path / "out"), *GIVEN[dest]]
    assert cli_main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"mrargo: error: {flag}")
    assert err.endswith(f" does not apply to a job file, only to a compiled SPEC.yaml; {SPEC_ONLY[dest]}\n")
    assert not (tmp_path / "out").exists()


def test_one_retries_default_for_run_and_compile() -> None:
    # What each command says it does, and what it does: a local run's
    # retries, and the retryStrategy limit of every template compiled.
    for command in ("run", "compile"):
        text = mrargo(command, "--help").stdout
        assert re.search(rf"--retries N\s+retries per [^()]*\(default:\s+{DEFAULT_RETRIES}\)", text), text
    assert LocalOptions().retries == DEFAULT_RETRIES
    doc = yaml.safe_load(compile_args(["compile", "examples/wordcount.py", "-o", "s3://b/out"]))
    limits = {t["name"]: t["retryStrategy"]["limit"] for t in doc["spec"]["templates"] if "retryStrategy" in t}
    assert limits and set(map(int, limits.values())) == {DEFAULT_RETRIES}


@pytest.mark.parametrize("seconds", ["0", "-5"])
def test_compile_refuses_a_timeout_that_is_not_positive(seconds: str) -> None:
    proc = compile_cli([os.path.join(ROOT, "examples", "wordcount.py"), "-o", "s3://b/out", "--image", TEST_IMAGE, "--timeout", seconds])
    assert proc.returncode == 2
    assert proc.stderr == f"mrargo: error: --timeout must be at least 1 second, got {seconds}\n"
