"""End to end on the local executor: examples against references, determinism,
every job feature, and the errors a user sees."""

from __future__ import annotations

import json
import os
import random

import pytest
from conftest import EXAMPLES, JOBS, mrargo, output_bytes, read_output, read_text_files, ref_indexer, ref_wordcount

from mrargo.runtime.codec import encode_key


def run_ok(*args: str, **kw: object) -> str:
    return mrargo("run", *args, "-q", **kw).stderr  # type: ignore[arg-type]


# -- the examples against plain-Python references ------------------------------


def test_wordcount_matches_reference(corpus, tmp_path) -> None:
    out = str(tmp_path / "out")
    run_ok("examples/wordcount.py", "-i", corpus, "-o", out, "--workers", "2")
    assert dict(read_output(out)) == ref_wordcount(corpus)
    success = json.loads(open(os.path.join(out, "_SUCCESS")).read())
    lines = sum(len(t.split("\n")) - (1 if t.endswith("\n") else 0) for t in read_text_files(corpus).values())
    fw = success["counters"]["mrargo"]
    assert fw["map input records"] == lines
    assert fw["reduce output records"] == len(ref_wordcount(corpus)) == success["output records"]
    # 2 MB of input in two splits, one for each of the 2 workers, then 4 reducers: one attempt each.
    assert fw["task retries"] == 0 and fw["task attempts"] == 2 + 4


def test_indexer_matches_reference(corpus, tmp_path) -> None:
    out = str(tmp_path / "out")
    run_ok("examples/indexer.py", "-i", corpus, "-o", out)
    assert dict(read_output(out)) == ref_indexer(corpus)


def test_topwords_matches_reference(corpus, tmp_path) -> None:
    out = str(tmp_path / "out")
    run_ok("examples/topwords.py", "-i", corpus, "-o", out)
    counts = ref_wordcount(corpus)
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:20]
    assert read_output(out) == [list(kv) for kv in top] or read_output(out) == top
    assert sorted(os.listdir(out)) == ["_SUCCESS", "part-00000"]


def test_each_part_file_is_sorted_by_key(corpus, tmp_path) -> None:
    out = str(tmp_path / "out")
    run_ok("examples/wordcount.py", "-i", corpus, "-o", out, "--reducers", "3")
    for name in output_bytes(out):
        keys = [json.loads(line.split("\t")[0]) for line in open(os.path.join(out, name))]
        assert keys == sorted(keys, key=encode_key)
    assert len(output_bytes(out)) == 3


# -- determinism and bounded memory ---------------------------------------------


def test_output_is_byte_identical_across_workers_hash_seeds_spills_and_the_c_loop(corpus, tmp_path) -> None:
    outputs = []
    spill = ["--sort-buffer-mb", "1", "--split-mb", "1"]
    runs = [("1", "0", [], {}), ("2", "1", [], {}), ("2", "random", spill, {}), ("2", "0", spill, {"MRARGO_PURE_PYTHON": "1"})]
    for i, (workers, seed, extra, env) in enumerate(runs):
        for job in ("wordcount", "indexer"):
            out = str(tmp_path / f"{job}{i}")
            run_ok(f"examples/{job}.py", "-i", corpus, "-o", out, "--workers", workers, *extra, env={"PYTHONHASHSEED": seed, **env})
            outputs.append(output_bytes(out))
    assert outputs[0::2] == [outputs[0]] * 4 and outputs[1::2] == [outputs[1]] * 4
    assert sum(len(b) for b in outputs[0].values()) > 0


def test_a_job_that_sets_no_reducers_gets_them_from_its_input_size_alone(corpus, tmp_path, monkeypatch) -> None:
    """The rule's reducers shape the output as --reducers would, and no worker count changes a byte of it."""
    import mrargo
    from mrargo.plan.build import load_job
    from mrargo.runtime import inputs

    _, WordCount = load_job(os.path.join(EXAMPLES, "wordcount.py"))
    assert WordCount.REDUCERS is None
    total = sum(os.path.getsize(os.path.join(corpus, f)) for f in os.listdir(corpus))
    small = mrargo.run(WordCount, corpus, str(tmp_path / "small"), workers=2)
    assert small.parts == inputs.MIN_AUTO_REDUCERS == 4
    # Scaled down, so that this corpus counts as over 4 reducers' worth: 8.
    monkeypatch.setattr(inputs, "REDUCE_BYTES", total // 5)
    outputs = [output_bytes(mrargo.run(WordCount, corpus, str(tmp_path / f"w{w}"), workers=w).output) for w in (1, 2, 3)]
    assert list(outputs[0]) == [f"part-{r:05d}" for r in range(8)]
    assert outputs[1] == outputs[0] and outputs[2] == outputs[0]
    assert output_bytes(mrargo.run(WordCount, corpus, str(tmp_path / "fixed"), reducers=8).output) == outputs[0]
    assert dict(read_output(str(tmp_path / "w2"))) == ref_wordcount(corpus)


def test_spilling_with_a_combiner_loses_nothing(corpus, tmp_path) -> None:
    # Regression: pairs grouped after a spill used to vanish.
    out = str(tmp_path / "out")
    stderr = mrargo("run", "examples/wordcount.py", "-i", corpus, "-o", out, "--sort-buffer-mb", "1", "--workers", "1").stderr
    spilled = [line for line in stderr.splitlines() if "spilled records" in line]
    assert spilled and int(spilled[0].split(":")[1]) > 0
    assert dict(read_output(out)) == ref_wordcount(corpus)


# -- job features ---------------------------------------------------------------


def test_hooks_params_side_files_counters_and_partition(tmp_path) -> None:
    src = tmp_path / "in.txt"
    src.write_text("the cat sat on a mat\nof bats and cats\n")
    out = str(tmp_path / "out")
    run_ok(os.path.join(JOBS, "features.py"), "-i", str(src), "-o", out, "--param", "prefix=w:")
    pairs = read_output(out)
    d = {json.dumps(k): v for k, v in pairs}
    assert d['"w:cat"'] == 1 and d['"w:cats"'] == 1 and '"w:the"' not in d
    assert d['"__mappers__"'] == 1
    groups = sorted(k[1] for k, _ in pairs if isinstance(k, list))
    assert sum(groups) == len([k for k, _ in pairs if not isinstance(k, list)])
    success = json.loads(open(os.path.join(out, "_SUCCESS")).read())
    assert success["counters"]["words"]["stopped"] == 3
    # The custom partition sent each word to the part its first letter picks;
    # each reducer's final hook wrote one line to its own part.
    for r, name in enumerate(sorted(output_bytes(out))):
        keys = [json.loads(line.split("\t")[0]) for line in open(os.path.join(out, name))]
        assert sum(isinstance(k, list) for k in keys) == 1
        assert all(ord(k[0]) % 3 == r for k in keys if isinstance(k, str))


def test_map_only_step_writes_mapper_output(tmp_path) -> None:
    src = tmp_path / "in.txt"
    src.write_text("ab\ncde\n")
    out = str(tmp_path / "out")
    run_ok(os.path.join(JOBS, "maponly.py"), "-i", str(src), "-o", out)
    assert read_output(out) == [("AB", 2), ("CDE", 3)]


def test_sort_values_and_a_reducer_only_step(tmp_path) -> None:
    # Times as ints and floats, negative too, in no order: sorted as
    # numbers, not as their JSON text ("-10" < "-3" < "10" < "9"), which
    # is how values of one key would come out of a sort without SORT_VALUES.
    rng = random.Random(3)
    times = [n / 4 if n % 3 == 0 else n for n in rng.sample(range(-100, 100), 40)]
    events = [{"user": u, "t": t, "what": f"{u}{t}"} for u in ("ann", "bob") for t in times]
    rng.shuffle(events)
    src = tmp_path / "ev.jsonl"
    src.write_text("\n".join(json.dumps(e) for e in events) + "\n")
    out = str(tmp_path / "out")
    run_ok(os.path.join(JOBS, "secondary.py"), "-i", str(src), "-o", out, "--split-mb", "1")
    assert dict(read_output(out)) == {u: {"events": 40, "in order": [f"{u}{t}" for t in sorted(times)]} for u in ("ann", "bob")}


def test_empty_input_gives_empty_output_and_success(tmp_path) -> None:
    src = tmp_path / "empty.txt"
    src.write_text("")
    out = str(tmp_path / "out")
    run_ok("examples/wordcount.py", "-i", str(src), "-o", out)
    assert read_output(out) == []
    assert json.loads(open(os.path.join(out, "_SUCCESS")).read())["output records"] == 0


def test_existing_output_is_refused_unless_overwrite(tmp_path) -> None:
    src = tmp_path / "in.txt"
    src.write_text("x y\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "precious").write_text("keep me")
    proc = mrargo("run", "examples/wordcount.py", "-i", str(src), "-o", str(out), check=False)
    assert proc.returncode == 3
    assert proc.stderr.strip().splitlines()[-1] == (
        f"mrargo: error: output {out} already exists; remove it, choose another output, or pass --overwrite to replace it"
    )
    assert (out / "precious").read_text() == "keep me"
    run_ok("examples/wordcount.py", "-i", str(src), "-o", str(out), "--overwrite")
    assert sorted(os.listdir(out))[0] == "_SUCCESS" and not (out / "precious").exists()


def test_work_dir_is_removed_unless_kept(tmp_path) -> None:
    src = tmp_path / "in.txt"
    src.write_text("x y\n")
    work = tmp_path / "work"
    work.mkdir()
    (work / "mine.txt").write_text("the user's own file")
    run_ok("examples/wordcount.py", "-i", str(src), "-o", str(tmp_path / "o1"), "--work-dir", str(work))
    assert os.listdir(work) == ["mine.txt"]  # the run removed only its own folder
    run_ok("examples/wordcount.py", "-i", str(src), "-o", str(tmp_path / "o2"), "--work-dir", str(work), "--keep-intermediate")
    kept = [d for d in os.listdir(work) if d.startswith("mrargo-")]
    assert len(kept) == 1 and (work / kept[0] / "step-1" / "shuffle.json").exists()


def test_failed_runs_leave_no_temporary_folders(tmp_path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    src = tmp_path / "in.txt"
    src.write_text("x\n")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "f").write_text("x")
    env = {"TMPDIR": str(tmp)}
    assert mrargo("run", os.path.join(JOBS, "nojob.py"), "-i", str(src), "-o", str(tmp_path / "o"), env=env, check=False).returncode == 3
    assert mrargo("run", "examples/wordcount.py", "-i", str(src), "-o", str(tmp_path / "out"), env=env, check=False).returncode == 3
    assert mrargo("run", os.path.join(JOBS, "buggy.py"), "-i", str(src), "-o", str(tmp_path / "o3"), env=env, check=False).returncode == 0
    assert os.listdir(tmp) == []


# -- failures -------------------------------------------------------------------


def test_crashing_tasks_are_retried_and_output_is_identical(tmp_path) -> None:
    src = tmp_path / "in.txt"
    src.write_text("".join(f"w{i % 7} crash{i % 3}\n" if i % 5 == 0 else f"w{i % 7}\n" for i in range(200)))
    markers = tmp_path / "markers"
    markers.mkdir()
    out = str(tmp_path / "out")
    stderr = mrargo("run", os.path.join(JOBS, "crashy.py"), "-i", str(src), "-o", out, "--param", f"markers={markers}", "--retries", "3").stderr
    assert "retrying" in stderr and "worker process died" in stderr
    expected: dict[str, int] = {}
    for line in src.read_text().splitlines():
        for w in line.split():
            expected[w] = expected.get(w, 0) + 1
    assert dict(read_output(out)) == expected
    fw = json.loads(open(os.path.join(out, "_SUCCESS")).read())["counters"]["mrargo"]
    assert fw["task retries"] >= 2


def test_no_spurious_attempts_without_failures(tmp_path) -> None:
    src = tmp_path / "in.txt"
    src.write_text("a b c\n")
    out = str(tmp_path / "out")
    run_ok("examples/wordcount.py", "-i", str(src), "-o", out, "--reducers", "3")
    fw = json.loads(open(os.path.join(out, "_SUCCESS")).read())["counters"]["mrargo"]
    assert fw["task attempts"] == 1 + 3 and fw["task retries"] == 0


def test_a_bug_after_a_skipped_undecodable_line_names_its_own_line(tmp_path) -> None:
    """--decode-errors skip leaves lines out of the mapper's view; the byte offset still names the failing line."""
    src = tmp_path / "in.txt"
    src.write_bytes(b"fine\nbad \xff\nfine\npoison\nfine\n")
    proc = mrargo("run", os.path.join(JOBS, "buggy.py"), "-i", str(src), "-o", str(tmp_path / "out"), "--retries", "0",
                  "--decode-errors", "skip", check=False)  # fmt: skip
    assert proc.returncode == 3
    assert proc.stderr.strip().splitlines()[-1].endswith(f"cannot digest poison (input {src} at byte 16)")


def test_user_bug_is_one_line_naming_task_input_and_exception(tmp_path) -> None:
    src = tmp_path / "in.txt"
    src.write_text("fine\nfine\npoison\nfine\n")
    out = tmp_path / "out"
    proc = mrargo("run", os.path.join(JOBS, "buggy.py"), "-i", str(src), "-o", str(out), "--retries", "1", check=False)
    assert proc.returncode == 3
    last = proc.stderr.strip().splitlines()[-1]
    assert last == (
        f"mrargo: error: map 1/1 of step 1: mapper raised ValueError: cannot digest poison (input {src} at byte 10) after 2 attempts"
    )
    assert "Traceback" not in proc.stderr
    assert not out.exists()
    debug = mrargo("--debug", "run", os.path.join(JOBS, "buggy.py"), "-i", str(src), "-o", str(out), "--retries", "0", check=False)
    assert "Traceback" in debug.stderr and 'raise ValueError("cannot digest poison")' in debug.stderr


def test_bad_records_are_skipped_up_to_the_limit(tmp_path) -> None:
    src = tmp_path / "in.txt"
    src.write_text("a\npoison\nb\npoison\n")
    out = str(tmp_path / "out")
    run_ok(os.path.join(JOBS, "buggy.py"), "-i", str(src), "-o", out, "--max-bad-records", "2")
    assert dict(read_output(out)) == {"a": 1, "b": 1}
    assert json.loads(open(os.path.join(out, "_SUCCESS")).read())["counters"]["mrargo"]["bad records skipped"] == 2
    proc = mrargo("run", os.path.join(JOBS, "buggy.py"), "-i", str(src), "-o", str(tmp_path / "o2"), "--max-bad-records", "1", check=False)
    assert proc.returncode != 0 and "more than --max-bad-records 1" in proc.stderr


def test_hung_task_times_out(tmp_path) -> None:
    src = tmp_path / "in.txt"
    src.write_text("x\n")
    proc = mrargo("run", os.path.join(JOBS, "sleepy.py"), "-i", str(src), "-o", str(tmp_path / "out"), "--timeout", "1", "--retries", "1", check=False)
    assert proc.returncode == 1  # a timeout may pass on another try
    assert proc.stderr.strip().splitlines()[-1] == "mrargo: error: map 1/1 of step 1: timed out after 1 s after 2 attempts"


def test_unencodable_value_names_type_and_task(tmp_path) -> None:
    src = tmp_path / "in.txt"
    src.write_text("x\n")
    proc = mrargo("run", os.path.join(JOBS, "badvalue.py"), "-i", str(src), "-o", str(tmp_path / "out"), "--retries", "0", check=False)
    assert proc.returncode == 3
    assert proc.stderr.strip().splitlines()[-1].startswith("mrargo: error: map 1/1 of step 1: cannot encode set")


@pytest.mark.parametrize(
    ("job", "message"),
    [
        ("nojob.py", "defines no MapReduce subclass"),
        ("twojobs.py", "defines several jobs (One, Two); choose one with"),
        ("syntaxerror.py", "syntaxerror.py:3: syntax error"),
        ("missing.py", "does not exist"),
    ],
)
def test_bad_job_files_are_one_line_errors(tmp_path, job: str, message: str) -> None:
    src = tmp_path / "in.txt"
    src.write_text("x\n")
    proc = mrargo("run", os.path.join(JOBS, job), "-i", str(src), "-o", str(tmp_path / "out"), check=False)
    assert proc.returncode == 3
    assert len(proc.stderr.strip().splitlines()) == 1 and message in proc.stderr


def test_choosing_one_of_two_jobs_and_bad_params(tmp_path) -> None:
    src = tmp_path / "in.txt"
    src.write_text("x\n")
    run_ok(os.path.join(JOBS, "twojobs.py") + ":Two", "-i", str(src), "-o", str(tmp_path / "out"))
    assert read_output(str(tmp_path / "out")) == [("x", 2)]
    proc = mrargo("run", "examples/wordcount.py", "-i", str(src), "-o", str(tmp_path / "o2"), "--param", "novalue", check=False)
    assert proc.returncode == 2 and "--param 'novalue' must look like name=value" in proc.stderr


def test_examples_on_two_thousand_small_files(tmp_path) -> None:
    import corpus as gen

    d = tmp_path / "many"
    vocab = gen.vocabulary(5000)
    d.mkdir()
    for i in range(2000):
        lines = gen.lines(vocab, seed=i)
        (d / f"doc{i:04d}.txt").write_text("\n".join(next(lines) for _ in range(1 + i % 7)) + "\n")
    counts = ref_wordcount(str(d))
    for job, check in [
        ("wordcount", lambda pairs: dict(pairs) == counts),
        ("indexer", lambda pairs: dict(pairs) == ref_indexer(str(d))),
        ("topwords", lambda pairs: pairs == [(w, c) for w, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:20]]),
    ]:
        out = str(tmp_path / job)
        run_ok(f"examples/{job}.py", "-i", str(d), "-o", out, "--split-mb", "1")
        assert check(read_output(out)), job


def test_sort_values_across_map_tasks_and_spills(tmp_path) -> None:
    """Values of one key from several map tasks, each spilling, still reach the reducer in order."""
    rng = random.Random(5)
    users = [f"u{i}" for i in range(20)]
    times = {u: rng.sample(range(-50_000, 50_000), 1_500) for u in users}
    events = [{"user": u, "t": t, "what": f"{u}:{t}"} for u in users for t in times[u]]
    rng.shuffle(events)
    for i in range(3):  # three files of 0.85 MB: too big to share a 1 MB split, so three map tasks
        part = events[i::3]
        pad = " " * 30  # spaces after the JSON: bigger files, the same records
        (tmp_path / f"ev{i}.jsonl").write_text("".join(json.dumps(e) + pad + "\n" for e in part))
    out = str(tmp_path / "out")
    run_ok(os.path.join(JOBS, "secondary.py"), "-i", str(tmp_path / "ev*.jsonl"), "-o", out, "--split-mb", "1", "--sort-buffer-mb", "1")
    assert dict(read_output(out)) == {u: {"events": 1_500, "in order": [f"{u}:{t}" for t in sorted(times[u])]} for u in users}
    assert json.loads(open(os.path.join(out, "_SUCCESS")).read())["counters"]["mrargo"]["spilled records"] > 0
