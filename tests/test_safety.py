"""Nothing lost: an output never replaces or lies inside an input, on any backend;
output files are readable by others and always valid UTF-8."""

from __future__ import annotations

import json
import os
import stat

import pytest
from conftest import ROOT, compile_args, mrargo

from mrargo import store


def tree(d) -> dict[str, bytes]:
    return {os.path.relpath(os.path.join(here, f), d): open(os.path.join(here, f), "rb").read() for here, _, files in os.walk(d) for f in files}


@pytest.fixture
def data(tmp_path):
    d = tmp_path / "data"
    (d / "sub").mkdir(parents=True)
    (d / "a.txt").write_text("a b a\n")
    (d / "sub" / "b.txt").write_text("b c\n")
    (tmp_path / "other.txt").write_text("sibling of the input folder\n")
    return d


def overlapping(d) -> list[tuple[list[str], str, str]]:
    """(inputs, output, what the error says) for every way an output can meet an input."""
    parent = os.path.dirname(d)
    os.symlink(d, os.path.join(parent, "link"))
    return [
        ([str(d)], str(d), "is input"),
        ([str(d)], str(d) + "/", "is input"),
        ([str(d)], f"file://{d}", "is input"),
        ([str(d)], os.path.join(parent, "link"), "is input"),
        ([str(d)], os.path.join(d, "sub", "..", ""), "is input"),
        ([os.path.join(d, "a.txt")], str(d), "holds input"),
        ([os.path.join(d, "sub")], parent, "holds input"),
        ([str(d)], os.path.join(d, "out"), "is inside input"),
        ([os.path.join(d, "*")], os.path.join(d, "out"), "is inside input"),
        ([os.path.join(parent, "link")], os.path.join(d, "sub", "out"), "is inside input"),
        # A glob that reaches into the output: the output folder holds (or may hold) what it matches.
        ([os.path.join(d, "*", "b.txt")], os.path.join(d, "sub"), "may hold files that input"),
        ([os.path.join(d, "su?", "*.txt")], os.path.join(d, "sub"), "may hold files that input"),
        ([os.path.join(d, "**", "b.txt")], os.path.join(d, "sub"), "may hold files that input"),
        ([os.path.join(parent, "*", "sub", "b.txt")], str(d), "may hold files that input"),
    ]


def test_every_overlap_is_refused_by_run_before_any_work(data) -> None:
    before = tree(os.path.dirname(data))
    for inputs, output, says in overlapping(data):
        argv = ["run", "examples/wordcount.py", *(a for i in inputs for a in ("-i", i)), "-o", output, "--overwrite"]
        proc = mrargo(*argv, check=False)
        assert proc.returncode == 3, (inputs, output, proc.stderr)
        assert proc.stderr.count("\n") == 1 and says in proc.stderr and "choose an output outside every input" in proc.stderr
        now = tree(os.path.dirname(data))
        now.pop("link", None)
        assert now == before, (inputs, output)  # nothing deleted, nothing written


def test_a_glob_that_cannot_match_the_output_is_fine(data, tmp_path) -> None:
    out = data / "counts"
    mrargo("run", "examples/wordcount.py", "-i", str(data / "*.txt"), "-o", str(out), "-q")
    assert (out / "_SUCCESS").exists()


def test_overlap_checks_on_object_stores() -> None:
    with pytest.raises(Exception, match="is input"):
        store.check_apart(["s3://bucket/in"], "s3://bucket/in/")
    with pytest.raises(Exception, match="is inside input"):
        store.check_apart(["s3://bucket/in/"], "s3a://bucket/in/x")  # s3a is the same store
    with pytest.raises(Exception, match="holds input"):
        store.check_apart(["memory://b/in/x.txt"], "memory://b")
    store.check_apart(["s3://bucket/in"], "s3://bucket/inx")  # a shared prefix is not a folder
    with pytest.raises(Exception, match="may hold files that input"):
        store.check_apart(["s3://b/logs/*/part-*"], "s3://b/logs/result")  # the next run would read the output
    store.check_apart(["s3://b/data/*.txt"], "s3://b/data/out")  # *.txt cannot match inside "out"
    store.check_apart(["s3://b/d/*/a.txt"], "s3://b/e")
    with pytest.raises(Exception, match="work folder .* is inside input"):
        store.check_apart(["s3://b/in"], "s3://b/out", "s3://b/in/_work")
    with pytest.raises(Exception, match="overlap"):
        store.check_apart(["s3://b/in"], "s3://b/out", "s3://b/out/_work")


def test_compile_refuses_an_output_over_an_input() -> None:
    for out in ("s3://b/data", "s3://b", "s3://b/data/out"):
        with pytest.raises(Exception, match="choose an output outside every input"):
            compile_args(["compile", "examples/wordcount.py", "-i", "s3://b/data", "-o", out, "--overwrite"])


def test_a_spec_run_refuses_an_output_over_its_input(data, tmp_path) -> None:
    spec = tmp_path / "wc.yaml"
    spec.write_text(compile_args(["compile", "examples/wordcount.py", "--overwrite", "--work-root", "s3://unused/work"]))
    before = tree(data)
    proc = mrargo("run", str(spec), "-p", f"input={data}", "-p", f"output={data}", "-q", "--no-backoff", check=False)
    assert proc.returncode == 3, proc.stderr
    assert "choose an output outside every input" in proc.stderr.splitlines()[-1]
    assert tree(data) == before


def test_output_files_follow_the_umask(data, tmp_path) -> None:
    for umask, mode in ((0o022, 0o644), (0o077, 0o600)):
        out = tmp_path / f"out-{umask:o}"
        old = os.umask(umask)
        try:
            mrargo("run", "examples/wordcount.py", "-i", str(data), "-o", str(out), "-q")
        finally:
            os.umask(old)
        for name in os.listdir(out):
            assert stat.S_IMODE(os.stat(out / name).st_mode) == mode, (name, oct(os.stat(out / name).st_mode))


def test_lone_surrogates_are_written_as_json_escapes(tmp_path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text('{"w": "\\ud83d"}\n{"w": "ok\\udfff"}\n{"w": "\\ud83d\\ude00"}\n')
    job = tmp_path / "words.py"
    job.write_text(
        "from mrargo import MapReduce\n"
        "class Words(MapReduce):\n"
        "    INPUT_FORMAT = 'jsonl'\n"
        "    REDUCERS = 1\n"
        "    def mapper(self, _, rec):\n"
        "        yield rec['w'], [rec['w']]\n"
        "    def reducer(self, w, vs):\n"
        "        yield w, list(vs)\n"
    )
    out = tmp_path / "out"
    mrargo("run", str(job), "-i", str(src), "-o", str(out), "-q")
    raw = (out / "part-00000").read_bytes()
    text = raw.decode("utf-8")  # strict: the file is valid UTF-8
    got = {json.loads(k): json.loads(v) for k, v in (line.split("\t") for line in text.splitlines())}
    assert got == {"\ud83d": [["\ud83d"]], "ok\udfff": [["ok\udfff"]], "\U0001f600": [["\U0001f600"]]}
    # The next job in a chain reads it back.
    out2 = tmp_path / "out2"
    mrargo("run", os.path.join(ROOT, "examples", "wordcount.py"), "-i", str(out), "-o", str(out2), "-q")
