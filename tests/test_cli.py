"""The command line: helpful --help, one-line errors."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT, mrargo


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


# What `mrargo run job.py` on local paths must not load: each is imported
# only by a command or a storage URL that needs it (fsspec brings asyncio).
NOT_ON_THE_RUN_PATH = ("fsspec", "asyncio", "hera", "kubernetes", "jinja2", "yaml", "pydantic", "uuid", "mrargo.specrun", "mrargo.cluster", "mrargo.argo.image")


def test_a_local_run_imports_only_what_it_uses(tmp_path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("a b a\n")
    code = (
        "import sys\n"
        "from mrargo.cli import main\n"
        f"rc = main(['run', 'examples/wordcount.py', '-i', {str(tmp_path / 'in')!r}, '-o', {str(tmp_path / 'out')!r}, '-q'])\n"
        f"print(rc, sorted(m for m in sys.modules if any(m == p or m.startswith(p + '.') for p in {NOT_ON_THE_RUN_PATH!r})))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert proc.stdout.strip() == "0 []", proc.stdout + proc.stderr
    assert (tmp_path / "out" / "_SUCCESS").exists()


def test_every_command_keeps_its_flags() -> None:
    # Only the running command's flags are built; each still shows them.
    out = mrargo("--help").stdout
    for command in ("run", "compile", "image", "manifests", "init", "submit", "status", "logs"):
        assert f"    {command}" in out, command
    assert "--base-image" in mrargo("image", "build", "--help").stdout
    assert "--with-minio" in mrargo("manifests", "--help").stdout
    assert "--kind" in mrargo("compile", "--help").stdout
