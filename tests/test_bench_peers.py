"""The benchmark's user-code limit still runs every workload: it loads the same job plans as mrargo, so a plan change can break it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT, read_output, ref_wordcount

BENCH = os.path.join(ROOT, "bench")
LIMIT = os.path.join(BENCH, "peers", "limit.py")
WORDS = "the quick brown fox jumps over the lazy dog and the cat sat on a mat".split()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Plain text, as the benchmark's corpus is (the limit reads no compressed files)."""
    d = tmp_path_factory.mktemp("bench-corpus")
    for f in range(5):
        lines = [" ".join(WORDS[(f + i * j) % len(WORDS)] for j in range(9)) for i in range(300)]
        (d / f"doc{f}.txt").write_text("\n".join(lines) + "\n")
    return str(d)


@pytest.mark.parametrize("workload", ["wordcount", "indexer", "topwords", "lineindex"])
def test_the_limit_peer_runs_each_workload_on_a_small_corpus(workload: str, corpus: str, tmp_path) -> None:
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, LIMIT, workload, corpus, str(out), "--procs", "2"], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": BENCH})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    timings = json.loads((out / "_limit.json").read_text())
    assert timings["procs"] == 2 and timings["limit_s"] > 0 and len(timings["steps"]) == (2 if workload == "topwords" else 1)
    if workload == "wordcount":
        assert dict(read_output(str(out))) == ref_wordcount(corpus)
