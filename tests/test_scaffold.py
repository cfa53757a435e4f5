"""`mrargo init`: the project it writes is a valid job whose own test passes straight away."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from mrargo import scaffold
from mrargo.cli import build_parser
from mrargo.cli.init import init_command
from mrargo.errors import UsageError


def init(*argv: str) -> int:
    return init_command(build_parser("init").parse_args(["init", *argv]))


def test_generated_project_test_passes_right_after_init(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "projects" / "wc"
    assert init("word-count", "--dir", str(target)) == 0
    out = capsys.readouterr().out
    assert "WordCount" in out and "next: cd" in out
    assert sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file()) == [
        "README.md", "data/sample.txt", "test_word_count.py", "word_count.py",
    ]  # fmt: skip
    # The project's own test, run as its author would: pytest in a fresh process.
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_word_count.py"],
        cwd=target,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 passed" in proc.stdout


def test_generated_files_fit_together(tmp_path: Path) -> None:
    project, target, _ = scaffold.write_project("log_lines", str(tmp_path / "p"))
    job = (Path(target) / "log_lines.py").read_text()
    tree = ast.parse(job)
    assert [n.name for n in tree.body if isinstance(n, ast.ClassDef)] == ["LogLines"]
    test = (Path(target) / "test_log_lines.py").read_text()
    expected = ast.literal_eval(test.split("EXPECTED = ", 1)[1].split("\n}\n", 1)[0] + "\n}")
    assert expected == scaffold.EXPECTED
    assert (Path(target) / "data/sample.txt").read_text().splitlines() == list(scaffold.SAMPLE)
    readme = (Path(target) / "README.md").read_text()
    assert readme.startswith("## LogLines") and "mrargo compile log_lines.py" in readme
    assert "mrargo image build log_lines.py --tag REGISTRY/log-lines:0.1.0" in readme and "--image-has-job" in readme
    assert project.k8s_name == "log-lines"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Word", "lowercase letters"),
        ("9lives", "starting with a letter"),
        ("a--b", "words joined by"),
        ("x" * 51, "at most 50"),
        ("json", "shadows Python"),
        ("class", "shadows Python"),
        ("mrargo", "shadows Python"),
        ("test-thing", "shadows Python"),
        ("map-reduce", "MapReduce"),
        ("a/b", "lowercase letters"),
    ],
)
def test_bad_names_are_refused_before_anything_is_written(tmp_path: Path, name: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        scaffold.write_project(name, str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_existing_non_empty_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(UsageError, match="already exists and is not empty"):
        scaffold.write_project("word-count", str(tmp_path))
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
    (tmp_path / "afile").write_text("x")
    with pytest.raises(UsageError, match="is not a directory"):
        scaffold.write_project("word-count", str(tmp_path / "afile"))
    empty = tmp_path / "empty"
    empty.mkdir()
    scaffold.write_project("word-count", str(empty))
    assert (empty / "word_count.py").exists()


def test_default_directory_is_the_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert init("top-words") == 0
    assert (tmp_path / "top-words" / "top_words.py").exists()
