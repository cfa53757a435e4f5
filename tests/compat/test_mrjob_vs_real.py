"""Our mrjob-style jobs under real mrjob 0.7.4 and under mrargo give the same output lines.

mrjob is installed once into a virtualenv under the cache folder
($XDG_CACHE_HOME or ~/.cache, then mrargo-tests/); each job is run with
its imports switched back to ``mrjob``.  Without network access to PyPI
on the first run these tests are skipped, saying why.  Output order is not
compared: it depends on how each runner partitions keys.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mrjob_helpers import JOBS, run_script, write_corpus

MRJOB = "mrjob==0.7.4"


def _cache() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "mrargo-tests" / f"mrjob-0.7.4-py{sys.version_info.major}{sys.version_info.minor}"


@pytest.fixture(scope="session")
def mrjob_python() -> Path:
    venv = _cache()
    python = venv / "bin" / "python"
    if python.exists() and subprocess.run([str(python), "-c", "import mrjob.job"], capture_output=True).returncode == 0:
        return python
    # Build beside the final place and move it there once it works, so an
    # interrupted install is never taken for a good one.
    partial = venv.with_name(venv.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.parent.mkdir(parents=True, exist_ok=True)
    steps = [[sys.executable, "-m", "venv", str(partial)], [str(partial / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", MRJOB]]
    for cmd in steps:
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as e:
            pytest.skip(f"{MRJOB} cannot be installed into {partial}: {e}")
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            pytest.skip(f"{MRJOB} cannot be installed ({' '.join(cmd[:2])} ... failed: {tail[0]})")
    check = subprocess.run([str(partial / "bin" / "python"), "-c", "import mrjob.job"], capture_output=True, text=True)
    if check.returncode != 0:
        pytest.skip(f"{MRJOB} installs but does not import on Python {sys.version_info.major}.{sys.version_info.minor}: {check.stderr.strip().splitlines()[-1]}")
    shutil.rmtree(venv, ignore_errors=True)
    partial.rename(venv)
    # A venv's scripts name its folder; the python binary itself does not care.
    return python


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_corpus(tmp_path_factory.mktemp("mrjob-vs-data"))


@pytest.fixture(scope="module")
def mrjob_jobs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The jobs with their imports switched back to mrjob's, and their side files."""
    d = tmp_path_factory.mktemp("mrjob-jobs")
    for p in JOBS.iterdir():
        if p.suffix == ".py":
            (d / p.name).write_text(p.read_text().replace("mrargo.compat.mrjob", "mrjob"))
        elif p.is_file():
            shutil.copy(p, d / p.name)
        elif p.is_dir() and p.name != "__pycache__":
            shutil.copytree(p, d / p.name)  # DIRS
    return d


# job, runner (mrjob's inline runner runs no commands: those use local), arguments, inputs
CASES = [
    ("word_freq", "inline", [], ["text0", "text1", "text2"]),
    ("returns_none", "inline", [], ["text0", "text1"]),
    ("hooks", "inline", [], ["text0", "text1"]),
    ("top_words", "inline", ["--top", "4"], ["text0", "text1", "text2"]),
    ("json_records", "inline", [], ["records"]),
    ("repr_pairs", "inline", [], ["text0"]),
    ("tsv_raw", "inline", [], ["scores"]),
    ("bytes_lines", "inline", [], ["text0", "text1"]),
    ("options_files", "inline", ["--min-count", "30", "--prefix", "f", "--prefix", "b"], ["text0", "text1"]),
    ("options_files", "local", ["--keep-case", "--extra-stop-words", "{jobs}/extra_stop_words.txt"], ["text0"]),
    ("components", "inline", ["--iterations", "2"], ["edges"]),
    ("per_file", "inline", [], ["text0", "text1", "text2"]),
    ("file_stats", "inline", [], ["text0", "text1", "text2"]),
    ("grep_lines", "local", [], ["text0", "text1"]),
    ("prefiltered", "local", [], ["text0", "text1", "text2"]),
    ("shares", "inline", [], ["text0", "text1", "text2"]),
    ("long_lines", "inline", ["--min-words", "11"], ["text0"]),
    ("dir_lookup", "inline", [], ["text0", "text1"]),
]


@pytest.mark.parametrize("name,runner,args,inputs", CASES, ids=[f"{c[0]}-{c[1]}-{i}" for i, c in enumerate(CASES)])
def test_same_output_as_mrjob(name: str, runner: str, args: list[str], inputs: list[str], data: dict[str, Path], mrjob_python: Path, mrjob_jobs: Path) -> None:
    paths = [str(data[i]) for i in inputs]
    ours = run_script(JOBS / f"{name}.py", "-q", "-r", runner, "--no-conf", *[a.format(jobs=JOBS) for a in args], *paths)
    assert ours.returncode == 0, ours.stderr.decode()
    cmd = [str(mrjob_python), str(mrjob_jobs / f"{name}.py"), "-r", runner, "--no-conf", *[a.format(jobs=mrjob_jobs) for a in args], *paths]
    theirs = subprocess.run(cmd, capture_output=True, timeout=600)
    assert theirs.returncode == 0, theirs.stderr.decode()[-2000:]
    assert ours.stdout.splitlines() and sorted(ours.stdout.splitlines()) == sorted(theirs.stdout.splitlines())


def test_stdin_as_mrjob_reads_it(data: dict[str, Path], mrjob_python: Path, mrjob_jobs: Path) -> None:
    text = data["text0"].read_bytes()
    ours = run_script(JOBS / "word_freq.py", "-q", "--no-conf", "-", stdin=text)
    theirs = subprocess.run([str(mrjob_python), str(mrjob_jobs / "word_freq.py"), "--no-conf", "-"], input=text, capture_output=True, timeout=600)
    assert theirs.returncode == 0 and sorted(ours.stdout.splitlines()) == sorted(theirs.stdout.splitlines())


PROBE = r"""
import sys
from mrjob import protocol as p
values = [("café", [1, {"a": None}]), (("x", 2), 1.5), ("k", "v\tw"), (None, "v"), ("k", None), (1, {2, 3})]
for name in ["JSONProtocol", "JSONValueProtocol", "TextProtocol", "TextValueProtocol", "ReprProtocol", "ReprValueProtocol", "PickleProtocol", "PickleValueProtocol"]:
    proto = getattr(p, name)()
    for k, v in values:
        try:
            line = proto.write(k, v)
        except Exception:
            line = b"(refused)"  # mrjob fails in str.encode (AttributeError), mrargo says what it wanted (TypeError)
        sys.stdout.buffer.write(name.encode() + b" " + repr(line).encode() + b"\n")
"""


def test_protocol_bytes_are_mrjobs(mrjob_python: Path) -> None:
    """Every protocol writes what mrjob's writes, and refuses what mrjob's cannot write."""
    theirs = subprocess.run([str(mrjob_python), "-c", PROBE], capture_output=True, check=True, timeout=120).stdout
    ours = subprocess.run([sys.executable, "-c", PROBE.replace("from mrjob import", "from mrargo.compat.mrjob import")], capture_output=True, check=True, timeout=120).stdout
    assert ours == theirs
