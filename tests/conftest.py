"""Shared fixtures: a small generated corpus, references, and a CLI runner."""

from __future__ import annotations

import bz2
import collections
import glob
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
from typing import Any

import pytest
import zstandard
from hypothesis import settings

# No per-example deadline: a loaded CI machine is slow, and speed is bench/'s
# business, not a test's.
settings.register_profile("mrargo", deadline=None)
settings.load_profile("mrargo")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
EXAMPLES = os.path.join(ROOT, "examples")
JOBS = os.path.join(ROOT, "tests", "jobs")
WORD = re.compile(r"[a-z]+")

import corpus as corpus_gen  # noqa: E402


@pytest.fixture(autouse=True)
def _a_fresh_process_memory_peak(monkeypatch: pytest.MonkeyPatch) -> None:
    """Map tasks run in this process see its peak as a task's own process would: small.

    A map task spills at half its buffer once its process has held 216 MiB
    (mapside.RESIDENT_TARGET), by getrusage's peak; this test process
    passes that early in the suite, and tests that run map tasks in it
    would then all spill where a task process does not.  The guard's own
    test sets the figure itself.
    """
    from mrargo.runtime import mapside

    monkeypatch.setattr(mapside, "resident_bytes", lambda: 0)


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> str:
    """About 2 MB of text in 12 files, three of them compressed."""
    d = str(tmp_path_factory.mktemp("corpus"))
    paths = corpus_gen.write_corpus(d, 2_000_000, 12, distinct=20_000)
    for path, (ext, opener) in zip(paths[:3], [(".gz", gzip.open), (".bz2", bz2.open), (".zst", None)]):
        data = open(path, "rb").read()
        if opener is None:
            with open(path + ext, "wb") as f:
                f.write(zstandard.ZstdCompressor().compress(data))
        else:
            with opener(path + ext, "wb") as f:
                f.write(data)
        os.unlink(path)
    return d


def read_text_files(d: str) -> dict[str, str]:
    out = {}
    for p in sorted(glob.glob(os.path.join(d, "*"))):
        raw = open(p, "rb").read()
        if p.endswith(".gz"):
            raw = gzip.decompress(raw)
        elif p.endswith(".bz2"):
            raw = bz2.decompress(raw)
        elif p.endswith(".zst"):
            raw = zstandard.ZstdDecompressor().decompressobj().decompress(raw)
        out[os.path.basename(p)] = raw.decode("utf-8")
    return out


def ref_wordcount(d: str) -> dict[str, int]:
    c: collections.Counter[str] = collections.Counter()
    for text in read_text_files(d).values():
        for line in text.split("\n"):
            c.update(WORD.findall(line.lower()))
    return dict(c)


def ref_indexer(d: str) -> dict[str, list[str]]:
    idx: dict[str, set[str]] = collections.defaultdict(set)
    for name, text in read_text_files(d).items():
        for w in set(WORD.findall(text.lower())):
            idx[w].add(name)
    return {w: sorted(names) for w, names in idx.items()}


def read_output(out: str) -> list[tuple[Any, Any]]:
    """Every (key, value) of the part files, in file order."""
    pairs = []
    for p in sorted(glob.glob(os.path.join(out, "part-*"))):
        with open(p, encoding="utf-8") as f:
            for line in f:
                k, v = line.rstrip("\n").split("\t")
                pairs.append((json.loads(k), json.loads(v)))
    return pairs


def output_bytes(out: str) -> dict[str, bytes]:
    return {os.path.basename(p): open(p, "rb").read() for p in sorted(glob.glob(os.path.join(out, "part-*")))}


# The image compiled specs name in tests; the real test cluster builds it (tests/e2e).
TEST_IMAGE = "mrargo/worker:test"


def compile_args(argv: list[str]) -> str:
    """Compile as the CLI does, in-process, from the repository root (job paths are relative).

    ``--image`` defaults to TEST_IMAGE: a checkout of mrargo is not a
    release, so compile needs one.
    """
    from mrargo.cli import build_parser
    from mrargo.cli.compile import compile_args as compile_parsed  # hera: only for the tests that compile

    if "--image" not in argv:
        argv = [*argv, "--image", TEST_IMAGE]
    old = os.getcwd()
    os.chdir(ROOT)
    try:
        return str(compile_parsed(build_parser("compile").parse_args(argv)).to_yaml())
    finally:
        os.chdir(old)


def mrargo(*args: str, env: dict[str, str] | None = None, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run the mrargo command in a subprocess."""
    full_env = dict(os.environ, **(env or {}))
    proc = subprocess.run([sys.executable, "-m", "mrargo", *args], capture_output=True, text=True, env=full_env, timeout=timeout, cwd=ROOT)
    if check and proc.returncode != 0:
        raise AssertionError(f"mrargo {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


@pytest.fixture
def copy_example(tmp_path: Any) -> Any:
    def copy(name: str) -> str:
        dst = os.path.join(str(tmp_path), name)
        shutil.copy(os.path.join(EXAMPLES, name), dst)
        return dst

    return copy
