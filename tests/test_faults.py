"""Fault injection on the local executor: whatever fails along the way, the
output equals a failure-free run, or the job fails clearly with nothing
partial visible."""

from __future__ import annotations

import contextlib
import glob
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import pytest
from conftest import JOBS, ROOT, mrargo, output_bytes, read_output

from mrargo import local
from mrargo.errors import CorruptDataError
from mrargo.plan import Options, bind, build_plan
from mrargo.runtime import layout, reduceside, tasks


def write_lines(path: str, n: int, words_per_line: int = 5) -> None:
    with open(path, "w") as f:
        for i in range(n):
            f.write(" ".join(f"w{(i * 7 + j) % 997}" for j in range(words_per_line)) + "\n")


@pytest.fixture
def inputs(tmp_path) -> str:
    d = tmp_path / "in"
    d.mkdir()
    for i in range(6):
        write_lines(str(d / f"f{i}.txt"), 12000)  # about 2 MB in all: several splits
    return str(d)


def test_crashes_and_stalls_survive_with_byte_identical_output(inputs, tmp_path) -> None:
    clean = str(tmp_path / "clean")
    mrargo("run", os.path.join(JOBS, "chaos.py"), "-i", inputs, "-o", clean, "-q", "--split-mb", "1", "--param", "chaos=off")
    markers = tmp_path / "markers"
    markers.mkdir()
    out = str(tmp_path / "out")
    proc = mrargo(
        "run", os.path.join(JOBS, "chaos.py"), "-i", inputs, "-o", out, "--split-mb", "1",
        "--param", f"markers={markers}", "--param", "stall=60", "--timeout", "5", "--retries", "2",
    )
    assert output_bytes(out) == output_bytes(clean)
    assert "worker process died" in proc.stderr and "timed out after 5 s" in proc.stderr
    fw = json.loads(open(os.path.join(out, "_SUCCESS")).read())["counters"]["mrargo"]
    assert fw["task retries"] >= 2


@pytest.mark.parametrize("how", ["raise", "kill"])
def test_partial_writes_are_never_visible(tmp_path, how: str) -> None:
    src = tmp_path / "in.txt"
    src.write_text("".join(f"key{i:06d}\n" for i in range(40000)))
    markers = tmp_path / "m"
    markers.mkdir()
    work = tmp_path / "work"
    out = tmp_path / "out"
    proc = mrargo(
        "run", os.path.join(JOBS, "partial.py"), "-i", str(src), "-o", str(out), "--work-dir", str(work), "--keep-intermediate",
        "--param", f"markers={markers}", "--param", f"how={how}",
    )
    assert "retrying reduce 1/1 of step 1" in proc.stderr
    assert read_output(str(out)) == [(f"key{i:06d}", 1) for i in range(40000)]
    # The failed attempt's bytes, if any were flushed, sit only in an
    # unreferenced temporary file; the manifest names the retry's output.
    (run,) = glob.glob(str(work / "mrargo-*"))
    reduce_dir = os.path.join(run, "step-1", "reduce")
    manifest = json.loads(open(os.path.join(reduce_dir, "00000.json")).read())
    visible = [p for p in glob.glob(os.path.join(reduce_dir, "*")) if not os.path.basename(p).startswith(".tmp")]
    assert sorted(visible) == sorted([manifest["path"], os.path.join(reduce_dir, "00000.json")])


def _plan(inputs: str, tmp_path):
    plan, job_dir = build_plan("examples/wordcount.py", options=Options(split_mb=1))
    return plan, bind([inputs], str(tmp_path / "out"), str(tmp_path / "work")), job_dir


def test_flipped_byte_in_a_map_output_is_caught_and_that_map_runs_again(inputs, tmp_path, monkeypatch, capsys) -> None:
    clean = str(tmp_path / "clean")
    mrargo("run", "examples/wordcount.py", "-i", inputs, "-o", clean, "-q", "--split-mb", "1")
    plan, run, job_dir = _plan(inputs, tmp_path)
    real_shuffle = tasks.run_shuffle
    corrupted: list[str] = []

    def corrupting_shuffle(p, r, step):
        if not corrupted:  # after the maps commit, flip one byte of map 1's output
            path = json.loads(open(layout.marker_url(r.work_dir, step, "map", 0)).read())["path"]
            data = bytearray(open(path, "rb").read())
            data[len(data) // 2] ^= 0x10
            open(path, "wb").write(bytes(data))
            corrupted.append(path)
        return real_shuffle(p, r, step)

    monkeypatch.setattr(tasks, "run_shuffle", corrupting_shuffle)
    local.run_plan(plan, run, local.LocalOptions(workers=2, progress=True), job_dir)
    err = capsys.readouterr().err
    assert f"{corrupted[0]}: checksum mismatch (written by map-1-00000)" in err
    assert "running map 1/" in err
    assert output_bytes(str(tmp_path / "out")) == output_bytes(clean)


def test_missing_intermediate_file_is_named_never_an_empty_partition(inputs, tmp_path) -> None:
    plan, run, _ = _plan(inputs, tmp_path)
    m = tasks.run_split(plan, run, 0)
    for i in range(m):
        tasks.run_map(plan, run, 0, i, layout.new_attempt(), tempfile.mkdtemp())
    path = json.loads(open(layout.marker_url(run.work_dir, 0, "map", 1)).read())["path"]
    os.unlink(path)
    with pytest.raises(CorruptDataError, match=f"intermediate file {path} is missing \\(written by map 2/{m} of step 1\\)") as e:
        tasks.run_shuffle(plan, run, 0)
    assert e.value.producer == "map-1-00001"
    # And when it vanishes after the shuffle, the reducer says so too.
    tasks.run_map(plan, run, 0, 1, layout.new_attempt(), tempfile.mkdtemp())
    reducers = tasks.run_shuffle(plan, run, 0)
    path = json.loads(open(layout.marker_url(run.work_dir, 0, "map", 1)).read())["path"]
    os.unlink(path)
    with pytest.raises(CorruptDataError, match="is missing"):
        for r in range(reducers):
            reduceside.run_reduce(plan, run, 0, r, layout.new_attempt(), tempfile.mkdtemp())


def test_local_executor_recovers_a_missing_map_output(inputs, tmp_path, monkeypatch, capsys) -> None:
    plan, run, job_dir = _plan(inputs, tmp_path)
    real_shuffle = tasks.run_shuffle
    removed: list[str] = []

    def losing_shuffle(p, r, step):
        if not removed:
            path = json.loads(open(layout.marker_url(r.work_dir, step, "map", 0)).read())["path"]
            os.unlink(path)
            removed.append(path)
        return real_shuffle(p, r, step)

    monkeypatch.setattr(tasks, "run_shuffle", losing_shuffle)
    local.run_plan(plan, run, local.LocalOptions(workers=2), job_dir)
    assert "is missing (written by map 1/" in capsys.readouterr().err
    clean = str(tmp_path / "clean")
    mrargo("run", "examples/wordcount.py", "-i", inputs, "-o", clean, "-q", "--split-mb", "1")
    assert output_bytes(str(tmp_path / "out")) == output_bytes(clean)


def test_partitioning_is_stable_across_hash_seeds() -> None:
    code = (
        "from mrargo.runtime.mapside import partition_of\n"
        "keys = ['a', 'word', 17, 2.5, None, True, ['x', 1], {'k': [1, 2]}] + [f'w{i}' for i in range(500)]\n"
        "print([partition_of(k, 13) for k in keys])\n"
    )
    results = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ, PYTHONHASHSEED=seed), check=True).stdout
        for seed in ("0", "1", "12345")
    }
    assert len(results) == 1


def descendants(pid: int) -> set[int]:
    """Every process below ``pid``, from /proc (Linux)."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        for path in glob.glob(f"/proc/{todo.pop()}/task/*/children"):
            try:
                with open(path) as f:
                    kids = {int(k) for k in f.read().split()}
            except OSError:  # the process ended meanwhile
                continue
            todo += kids - found
            found |= kids
    return found


def alive(pid: int) -> bool:
    """Running or sleeping: a zombie has ended, only its exit status waits to be read."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def interrupt(argv: list[str], tmp: Any, task_started: Callable[[], bool], sig: int) -> tuple[int, str, set[int], list[int]]:
    """Run `mrargo ARGV` with TMPDIR=tmp and send ``sig`` once a task runs.

    Returns the exit code, stderr, the processes the run had started, and
    those of them still alive once it exited (they are then killed, so a
    failing test leaves nothing running).  stderr goes to a file, not a
    pipe: orphaned tasks would hold a pipe open, and reading it would wait
    for them instead of failing.
    """
    log = tmp.parent / "mrargo.stderr"
    with open(log, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "mrargo", *argv], cwd=ROOT, env=dict(os.environ, TMPDIR=str(tmp)), stderr=err)
    started: set[int] = set()
    survivors: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while not (task_started() and descendants(proc.pid)):
            assert time.monotonic() < deadline and proc.poll() is None, "no task started"
            time.sleep(0.05)
        started = descendants(proc.pid)
        proc.send_signal(sig)
        proc.wait(timeout=60)
        survivors = [pid for pid in started if alive(pid)]
    finally:
        proc.kill()
        proc.wait()
        for pid in started:
            if alive(pid):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
    return proc.returncode, log.read_text(), started, survivors


INTERRUPTED_LINE = "mrargo: error: interrupted; the tasks were stopped and nothing was written to the output"


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["ctrl-c", "sigterm"])
def test_a_signal_stops_the_tasks_cleanly_with_nothing_partial(tmp_path, sig: int, code: int) -> None:
    # SIGTERM (kill PID, a CI runner's timeout) must do what Ctrl-C does;
    # by default it would end the parent alone, and its task processes
    # would keep running and writing into the work folder.
    src = tmp_path / "in.txt"
    src.write_text("x\ny\n")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    out = tmp_path / "out"
    argv = ["run", os.path.join(JOBS, "sleepy.py"), "-i", str(src), "-o", str(out), "--param", "sleep=60"]
    returncode, stderr, started, survivors = interrupt(argv, tmp, lambda: bool(glob.glob(str(tmp / "mrargo-scratch-*" / "map-1-*"))), sig)
    assert returncode == code
    assert stderr.strip().splitlines()[-1] == INTERRUPTED_LINE
    assert started and survivors == []  # every task process stopped
    assert not out.exists()
    assert os.listdir(tmp) == []  # scratch and work dir removed


def test_decode_errors_replace_are_counted_end_to_end(tmp_path) -> None:
    src = tmp_path / "in.txt"
    src.write_bytes(b"good words\nbad \xff\xfe words\n")
    out = str(tmp_path / "out")
    mrargo("run", "examples/wordcount.py", "-i", str(src), "-o", out, "-q", "--decode-errors", "replace")
    assert dict(read_output(out)) == {"good": 1, "words": 2, "bad": 1}
    fw = json.loads(open(os.path.join(out, "_SUCCESS")).read())["counters"]["mrargo"]
    assert fw["decode errors replaced"] == 2  # two invalid bytes, two replacements
    proc = mrargo("run", "examples/wordcount.py", "-i", str(src), "-o", str(tmp_path / "o2"), check=False)
    assert proc.returncode == 3
    # Deterministic, so not retried; one line naming the task, file and offset.
    assert proc.stderr.strip().splitlines()[-1] == (
        f"mrargo: error: map 1/1 of step 1: {src}: invalid UTF-8 at byte 15; "
        "fix the file or pass --decode-errors replace|skip to mrargo run, or to mrargo compile for a spec"
    )
    assert "retrying" not in proc.stderr
    assert not (tmp_path / "o2").exists()


def test_truncated_gzip_is_one_error_naming_the_file(tmp_path) -> None:
    import gzip

    d = tmp_path / "in"
    d.mkdir()
    data = gzip.compress(b"some words here\n" * 20000)
    (d / "t.txt.gz").write_bytes(data[: len(data) // 2])
    proc = mrargo("run", "examples/wordcount.py", "-i", str(d), "-o", str(tmp_path / "out"), "--retries", "0", check=False)
    assert proc.returncode == 3
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"mrargo: error: map 1/1 of step 1: {d}/t.txt.gz: cannot decompress") and last.endswith("the file is truncated or corrupt")
    assert not (tmp_path / "out").exists()


def test_skipped_records_land_in_a_side_file_of_the_output(tmp_path) -> None:
    src = tmp_path / "in.txt"
    src.write_text("a\npoison\nb\n")
    out = tmp_path / "out"
    mrargo("run", os.path.join(JOBS, "buggy.py"), "-i", str(src), "-o", str(out), "-q", "--max-bad-records", "1")
    side = (out / "_bad_records" / "map-1-00000.jsonl").read_text().splitlines()
    assert len(side) == 1 and json.loads(side[0])["value"] == "poison" and "ValueError: cannot digest poison" in side[0]


@pytest.mark.slow
def test_many_keys_and_a_hot_key_run_in_bounded_memory(tmp_path) -> None:
    """10 million distinct keys plus one key with half of all records."""
    src = tmp_path / "in.txt"
    src.write_text("".join(f"{i * 1_000_000} 1000000\n" for i in range(10)))
    out = tmp_path / "out"
    probe = (
        "import resource, subprocess, sys\n"
        "subprocess.run(sys.argv[1:], check=True)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe, sys.executable, "-m", "mrargo", "run", os.path.join(JOBS, "ints.py"), "-i", str(src), "-o", str(out), "-q", "--split-mb", "1"],
        capture_output=True, text=True, cwd=ROOT, timeout=1800,
    )
    assert proc.returncode == 0, proc.stderr
    peak_kib = int(proc.stdout.strip().splitlines()[-1])
    assert peak_kib < 256 * 1024, f"peak RSS {peak_kib / 1024:.0f} MiB"
    success = json.loads((out / "_SUCCESS").read_text())
    assert success["output records"] == 10_000_001
    hot = [line for line in open(out / "part-00000").read().splitlines() + open(out / "part-00001").read().splitlines() if line.startswith('"hot"')]
    assert hot == ['"hot"\t10000000']


def test_one_huge_record_is_still_bounded_by_the_sort_buffer(tmp_path) -> None:
    """A whole-file record yielding ~400k pairs must spill under a 1 MB buffer,
    not wait for the record to end."""
    src = tmp_path / "big.txt"
    src.write_text(" ".join(f"w{i}" for i in range(200_000)) + "\n" + " ".join(f"w{i}" for i in range(200_000)) + "\n")
    out = tmp_path / "out"
    mrargo("run", os.path.join(JOBS, "wholefile.py"), "-i", str(src), "-o", str(out), "-q", "--sort-buffer-mb", "1")
    fw = json.loads((out / "_SUCCESS").read_text())["counters"]["mrargo"]
    # Checked inside the record: many small spills, so each word is spilled
    # twice (once per occurrence).  Checked only after the record, there
    # would be one spill of 200,000 combined words.
    assert fw["spilled records"] > 300_000
    assert fw["reduce output records"] == 200_000
    assert all(v == 2 for _, v in read_output(str(out)))
