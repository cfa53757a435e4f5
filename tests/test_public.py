"""The Python API: mrargo.run and mrargo.compile, on a class or a JOB string."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import yaml
from conftest import EXAMPLES, ROOT, TEST_IMAGE, ref_wordcount

import mrargo
from mrargo.errors import OutputExistsError, UsageError
from mrargo.plan.build import load_job


def test_run_a_class_and_read_its_records(corpus, tmp_path) -> None:
    _, WordCount = load_job(os.path.join(EXAMPLES, "wordcount.py"))
    result = mrargo.run(WordCount, corpus, str(tmp_path / "out"), reducers=3, workers=2)
    assert isinstance(result, mrargo.RunResult)
    assert dict(result.records()) == ref_wordcount(corpus)
    assert result.parts == 3 and result.output == str(tmp_path / "out")
    assert result.output_records == len(ref_wordcount(corpus)) == result.counters["mrargo"]["reduce output records"]


def test_run_a_job_string_with_params_and_options(tmp_path) -> None:
    src = tmp_path / "in.txt"
    src.write_text("the cat the hat\n" * 50)
    out = tmp_path / "top"
    result = mrargo.run(f"{EXAMPLES}/topwords.py", [str(src)], str(out), params={"n": "1"}, split_mb=1, sort_buffer_mb=2)
    assert list(result.records()) == [["the", 100]] or list(result.records()) == [("the", 100)]
    with pytest.raises(OutputExistsError, match="pass overwrite=True to replace it"):
        mrargo.run(f"{EXAMPLES}/topwords.py", [str(src)], str(out), params={"n": "1"})
    again = mrargo.run(f"{EXAMPLES}/topwords.py", [str(src)], str(out), params={"n": "2"}, overwrite=True)
    assert [k for k, _ in again.records()] == ["the", "cat"] or [k for k, _ in again.records()] == ["the", "hat"]


def test_bad_arguments_are_clear(tmp_path) -> None:
    with pytest.raises(TypeError, match="unknown options split_size; it takes"):
        mrargo.run(f"{EXAMPLES}/wordcount.py", [str(tmp_path)], str(tmp_path / "o"), split_size=3)
    with pytest.raises(UsageError, match="--workers must be at least 1"):
        mrargo.run(f"{EXAMPLES}/wordcount.py", [os.path.join(ROOT, "examples", "data")], str(tmp_path / "o"), workers=-1)
    with pytest.raises(Exception, match="not a MapReduce subclass"):
        mrargo.run(dict, [str(tmp_path)], str(tmp_path / "o"))  # type: ignore[arg-type]


def test_a_class_defined_in_a_script_or_notebook_runs(tmp_path) -> None:
    """A job class in __main__ (a script, or a notebook cell) needs no file of its own."""
    (tmp_path / "in.txt").write_text("b a b\n")
    script = tmp_path / "nb.py"
    script.write_text(textwrap.dedent(f"""
        import mrargo
        from mrargo import MapReduce

        class Count(MapReduce):
            def mapper(self, _, line):
                for w in line.split():
                    yield w, 1
            def reducer(self, w, ones):
                yield w, sum(ones)

        result = mrargo.run(Count, {str(tmp_path / "in.txt")!r}, {str(tmp_path / "out")!r})
        print(sorted(result.records()))
    """))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[('a', 1), ('b', 2)]"


def test_compile_returns_the_same_yaml_as_the_cli() -> None:
    from conftest import compile_args

    _, WordCount = load_job(os.path.join(EXAMPLES, "wordcount.py"))
    text = mrargo.compile(WordCount, inputs=["s3://b/in"], output="s3://b/out", image=TEST_IMAGE)
    cli = compile_args(["compile", "examples/wordcount.py", "-i", "s3://b/in", "-o", "s3://b/out"])
    strip = lambda t: t.split("\n", 2)[2]  # noqa: E731  (the header names the command)
    assert strip(text) == strip(cli)
    doc = yaml.safe_load(mrargo.compile(f"{EXAMPLES}/wordcount.py", work_root="s3://b/w", image=TEST_IMAGE, kind="template"))
    assert doc["kind"] == "WorkflowTemplate"
    with pytest.raises(TypeError, match="unknown options imagee"):
        mrargo.compile(WordCount, work_root="s3://b/w", imagee="x")


def test_importing_mrargo_loads_no_backend() -> None:
    code = "import sys, mrargo; print(sorted(m for m in sys.modules if m.startswith(('mrargo.local', 'mrargo.argo', 'fsspec', 'hera'))))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert proc.stdout.strip() == "[]"


def test_raw_output_reads_back_as_values(tmp_path) -> None:
    (tmp_path / "in.txt").write_text("b a b\n")
    (tmp_path / "raw.py").write_text(textwrap.dedent("""
        from mrargo import MapReduce

        class Lines(MapReduce):
            OUTPUT_FORMAT = "raw"
            def mapper(self, _, line):
                for w in line.split():
                    yield w, 1
            def reducer(self, w, ones):
                yield w, f"{w}={sum(ones)}"
    """))
    result = mrargo.run(str(tmp_path / "raw.py"), str(tmp_path / "in.txt"), str(tmp_path / "out"))
    assert sorted(result.records()) == [(None, "a=1"), (None, "b=2")]


def test_compile_takes_the_input_options_the_cli_takes() -> None:
    """The fix an input error names (--decode-errors, --max-record-mb, --max-bad-records) works from Python too."""
    base = {"work_root": "s3://b/w", "image": TEST_IMAGE}
    cli = compile_args_for("--decode-errors", "replace", "--max-record-mb", "8", "--max-bad-records", "5")
    text = mrargo.compile(f"{EXAMPLES}/wordcount.py", decode_errors="replace", max_record_mb=8, max_bad_records=5, **base)
    assert text.split("\n", 2)[2] == cli.split("\n", 2)[2]
    assert text != mrargo.compile(f"{EXAMPLES}/wordcount.py", **base)


def compile_args_for(*extra: str) -> str:
    from conftest import compile_args

    return compile_args(["compile", "examples/wordcount.py", "--work-root", "s3://b/w", *extra])
