"""The command line: helpful --help, one-line errors."""

from __future__ import annotations

from conftest import mrargo


def test_help_lists_commands_and_examples() -> None:
    out = mrargo("--help").stdout
    assert "run" in out and "compile" in out and "mrargo run examples/wordcount.py" in out
    run_help = mrargo("run", "--help").stdout
    for flag in ("--workers", "--retries", "--overwrite", "--keep-intermediate", "--sort-buffer-mb", "--param", "--timeout"):
        assert flag in run_help


def test_no_command_prints_usage_and_fails() -> None:
    proc = mrargo(check=False)
    assert proc.returncode == 2 and "usage: mrargo" in proc.stderr


def test_missing_output_is_one_line(tmp_path) -> None:
    proc = mrargo("run", "examples/wordcount.py", "-i", str(tmp_path), check=False)
    assert proc.returncode == 2 and proc.stderr.strip() == "mrargo: error: no output given; pass -o PATH"


def test_unknown_option_is_refused() -> None:
    proc = mrargo("run", "examples/wordcount.py", "--frobnicate", check=False)
    assert proc.returncode == 2 and "unrecognized arguments: --frobnicate" in proc.stderr
