"""The command line: helpful --help, one-line errors."""

from __future__ import annotations

import base64
import os
import subprocess
import sys

import yaml

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


def test_the_command_ends_as_python_would_atexit_and_piped_output(tmp_path) -> None:
    """The command skips the interpreter's teardown, not what it owes: atexit handlers run, and piped output arrives whole."""
    job = tmp_path / "job.py"
    job.write_text(
        "import atexit\nfrom mrargo import MapReduce\n"
        "atexit.register(lambda: print('atexit ran'))\n"
        "class J(MapReduce):\n"
        "    def mapper(self, _, line):\n        yield line, 1\n"
        "    def reducer(self, k, vs):\n        yield k, sum(vs)\n"
    )
    (tmp_path / "in.txt").write_text("a\nb\na\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # stdout buffered, as it is by default

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "mrargo", *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)

    proc = run("run", str(job), "-i", str(tmp_path / "in.txt"), "-o", str(tmp_path / "out"), "-q")
    assert proc.returncode == 0 and proc.stdout == "atexit ran\n"
    # The spec embeds the job, compressed: random text makes it more than a pipe's 64 KiB.
    job.write_text(job.read_text() + "# " + base64.b64encode(os.urandom(55_000)).decode() + "\n")
    proc = run("compile", str(job), "-i", "s3://b/in/", "-o", "s3://b/out/", "--image", "img/mrargo:1")
    assert proc.returncode == 0 and len(proc.stdout) > 70_000 and proc.stdout.endswith("atexit ran\n")  # the handler runs here too, last
    assert yaml.safe_load(proc.stdout.removesuffix("atexit ran\n"))["kind"] == "Workflow"
    proc = run("run", str(job), "-i", str(tmp_path / "missing"), "-o", str(tmp_path / "out2"))
    assert proc.returncode == 3 and proc.stderr.startswith("mrargo: error: input")
