"""`python job.py ...`: mrjob's command line for a ported job, its switches, and what it refuses."""

from __future__ import annotations

import collections
import re
import subprocess
import sys
from pathlib import Path

import pytest
from mrjob_helpers import JOBS, run_script, text_lines, write_corpus

WORD = re.compile(r"[^\W\d_]+")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_corpus(tmp_path_factory.mktemp("mrjob-cli-data"))


def want_counts(paths: list[Path]) -> collections.Counter[str]:
    return collections.Counter(w for lines in text_lines(paths).values() for line in lines for w in WORD.findall(line.lower()))


def stdout_pairs(out: bytes) -> dict[str, int]:
    pairs = [line.split("\t") for line in out.decode().splitlines()]
    import json

    return {json.loads(k): json.loads(v) for k, v in pairs}


def test_prints_the_output_lines_to_stdout(data: dict[str, Path]) -> None:
    proc = run_script(JOBS / "word_freq.py", str(data["text0"]), str(data["text2"]))
    assert proc.returncode == 0, proc.stderr.decode()
    assert stdout_pairs(proc.stdout) == want_counts([data["text0"], data["text2"]])
    # JSONProtocol as mrjob writes it: json.dumps, ASCII, a tab between.
    assert b'"caf\\u00e9"\t' in proc.stdout
    # The counters on stderr, as mrjob prints them.
    assert "Counters: 2\n\tlines\n\t\twithout words=" in proc.stderr.decode()


@pytest.mark.parametrize("args", [[], ["-"], ["-r", "local", "-"]])
def test_reads_stdin_without_inputs_or_with_dash(args: list[str]) -> None:
    proc = run_script(JOBS / "word_freq.py", "-q", *args, stdin=b"b a\na\n")
    assert proc.returncode == 0, proc.stderr.decode()
    assert stdout_pairs(proc.stdout) == {"a": 2, "b": 1}


def test_output_dir_and_cat_output(data: dict[str, Path], tmp_path: Path) -> None:
    kept = run_script(JOBS / "word_freq.py", "-q", "--output-dir", str(tmp_path / "a"), str(data["text0"]))
    assert kept.returncode == 0 and kept.stdout == b"" and list((tmp_path / "a").glob("part-*"))
    both = run_script(JOBS / "word_freq.py", "-q", "-o", str(tmp_path / "b"), "--cat-output", str(data["text0"]))
    assert stdout_pairs(both.stdout) == want_counts([data["text0"]])
    none = run_script(JOBS / "word_freq.py", "-q", "--no-output", str(data["text0"]))
    assert none.returncode == 0 and none.stdout == b""
    again = run_script(JOBS / "word_freq.py", "-q", "-o", str(tmp_path / "a"), str(data["text0"]))
    assert again.returncode == 3 and b"already exists" in again.stderr and b"pass another --output-dir" in again.stderr


def test_accepted_switches(data: dict[str, Path], tmp_path: Path) -> None:
    args = ["-r", "local", "--no-conf", "--num-cores", "2", "--local-tmp-dir", str(tmp_path), "--cmdenv", "TZ=UTC", "-D", "mapreduce.job.maps=4", "-v"]
    proc = run_script(JOBS / "word_freq.py", *args, str(data["text0"]))
    assert proc.returncode == 0, proc.stderr.decode()
    assert stdout_pairs(proc.stdout) == want_counts([data["text0"]])
    assert b"is ignored" not in proc.stderr  # a job's map count changes nothing: no warning
    assert list(tmp_path.iterdir()) == []  # the run's work folder went away


def test_an_ignored_jobconf_is_said_once(data: dict[str, Path]) -> None:
    proc = run_script(JOBS / "word_freq.py", "-q", "-D", "my.setting=1", str(data["text0"]))
    assert proc.returncode == 0
    assert proc.stderr.decode().count("jobconf my.setting is ignored") == 1


def test_help_lists_the_jobs_own_options() -> None:
    proc = run_script(JOBS / "top_words.py", "--help")
    assert proc.returncode == 0
    assert b"--top TOP" in proc.stdout and b"--jobconf" in proc.stdout and b"-r argo" in proc.stdout


REFUSED = [
    (["-r", "emr"], "-r emr is not supported: mrargo runs jobs on this machine (-r inline or -r local) or on Kubernetes through Argo (-r argo)"),
    (["-r", "dataproc"], "-r dataproc is not supported"),
    (["-r", "hadoop"], "-r hadoop is not supported"),
    (["-r", "nope"], "-r nope: unknown runner; use inline, local or argo"),
    (["--region", "us-west-2"], "--region is an option of mrjob's EMR, Dataproc, Hadoop or Spark runners"),
    (["--instance-type", "m5.xlarge"], "--instance-type is an option of mrjob's EMR, Dataproc, Hadoop or Spark runners"),
    (["--hadoop-streaming-jar", "x.jar"], "--hadoop-streaming-jar is an option of mrjob's EMR, Dataproc, Hadoop or Spark runners"),
    (["-c", "mrjob.conf"], "-c is not supported: mrargo reads no mrjob.conf"),
    (["--conf-path", "mrjob.conf"], "--conf-path is not supported: mrargo reads no mrjob.conf"),
    (["--setup", "pip install x"], "--setup is not supported"),
    (["--files", "a.txt"], "--files is not supported: list side files in the job's FILES"),
    (["--dirs", "d"], "--dirs is not supported"),
    (["--mapper"], "--mapper is not supported: mrargo runs the tasks of a job itself"),
    (["--step-num", "0"], "--step-num is not supported"),
    (["--no-such-switch"], "--no-such-switch is not an option of this job nor one mrargo supports"),
    (["-D", "stream.num.map.output.key.fields=2"], "-D stream.num.map.output.key.fields: jobconf stream.num.map.output.key.fields changes how Hadoop"),
    (["-D", "mapreduce.job.reduces=many"], "jobconf mapreduce.job.reduces='many' must be a whole number"),
    (["--jobconf", "novalue"], "--jobconf 'novalue' must look like KEY=VALUE"),
    (["--num-cores", "0"], "--num-cores must be at least 1, got 0"),
    (["--top", "x"], "argument --top: invalid int value: 'x'"),
]


@pytest.mark.parametrize("args,message", REFUSED, ids=[" ".join(a) for a, _ in REFUSED])
def test_refused_switches_exit_2_with_one_line(args: list[str], message: str, data: dict[str, Path]) -> None:
    proc = run_script(JOBS / "top_words.py", *args, str(data["text0"]))
    assert proc.returncode == 2, proc.stderr.decode()
    lines = proc.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("top_words.py: error: ") and message in lines[0], lines


def test_a_failing_job_exits_3_with_one_line_and_a_traceback_with_v(tmp_path: Path) -> None:
    job = tmp_path / "boom.py"
    job.write_text(
        "from mrargo.compat.mrjob.job import MRJob\n\n"
        "class MRBoom(MRJob):\n"
        "    def mapper(self, _, line):\n"
        "        yield line, 1 / len(line)\n\n"
        "if __name__ == '__main__':\n"
        "    MRBoom.run()\n"
    )
    quiet = run_script(job, "-q", "-", stdin=b"ok\n\n")
    assert quiet.returncode == 3
    (line,) = quiet.stderr.decode().splitlines()
    assert line.startswith("boom.py: error: ") and "mapper raised ZeroDivisionError: division by zero" in line
    loud = run_script(job, "-q", "-v", "-", stdin=b"ok\n\n")
    assert loud.returncode == 3 and b"Traceback" in loud.stderr and b"1 / len(line)" in loud.stderr


def test_a_closed_stdout_ends_quietly(data: dict[str, Path]) -> None:
    script = f"{sys.executable} {JOBS / 'word_freq.py'} -q {data['text0']} {data['text1']} | head -c 10"
    proc = subprocess.run(["sh", "-c", script], capture_output=True, timeout=120)
    assert proc.returncode == 0 and len(proc.stdout) == 10 and b"Traceback" not in proc.stderr


def test_set_status_is_shown_with_v(tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_text("a b a\n")
    loud = run_script(JOBS / "word_freq.py", "-v", str(tmp_path / "in.txt"))
    assert loud.returncode == 0, loud.stderr.decode()
    assert "status: reducing a" in loud.stderr.decode() and "status: reducing b" in loud.stderr.decode()
    quiet = run_script(JOBS / "word_freq.py", "-q", str(tmp_path / "in.txt"))
    assert b"status:" not in quiet.stderr and quiet.stdout == loud.stdout
