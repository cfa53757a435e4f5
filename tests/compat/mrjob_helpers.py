"""What the mrjob-compatibility tests share: the test data, the jobs, and ways to run them.

Not a conftest.py: tests/conftest.py is imported as ``conftest`` by other
test modules, and a second one here would shadow it.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
JOBS = Path(__file__).resolve().parent / "jobs"
WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "Fox", "café", "naïve", "über", "alpha", "beta", "gamma", "delta"]


def write_corpus(d: Path) -> dict[str, Path]:
    """Text in three files (one gzipped, with comments and blank lines), JSON records, TSV scores, graph edges."""
    rng = random.Random(7)
    out: dict[str, Path] = {}
    for f in range(3):
        lines = []
        for i in range(300):
            if i % 37 == 0:
                lines.append(f"# comment line {i}")
            elif i % 41 == 0:
                lines.append("")
            else:
                lines.append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 12))))
        data = ("\n".join(lines) + "\n").encode()
        if f == 2:
            out[f"text{f}"] = d / f"text{f}.txt.gz"
            out[f"text{f}"].write_bytes(gzip.compress(data, mtime=0))
        else:
            out[f"text{f}"] = d / f"text{f}.txt"
            out[f"text{f}"].write_bytes(data)
    out["records"] = d / "records.jsonl"
    out["records"].write_text(
        "".join(json.dumps({"user": rng.choice(["ann", "bob", "cy", "dé"]), "amount": rng.randint(1, 100)}) + "\n" for _ in range(200)),
        encoding="utf-8",
    )
    out["scores"] = d / "scores.tsv"
    out["scores"].write_text("".join(f"{rng.choice(['red', 'blue', 'green'])}\t{rng.randint(0, 50)}\n" for _ in range(200)) + "lonely\n")
    out["edges"] = d / "edges.txt"
    out["edges"].write_text("".join(f"n{a} n{b}\n" for a, b in [(1, 2), (2, 3), (3, 4), (5, 6), (7, 7), (8, 9), (9, 10), (10, 5)]))
    return out


def text_lines(paths: list[Path]) -> dict[str, list[str]]:
    """Each text file's lines (decompressed), by file name."""
    out = {}
    for p in paths:
        raw = p.read_bytes()
        if p.name.endswith(".gz"):
            raw = gzip.decompress(raw)
        out[p.name] = raw.decode("utf-8").splitlines()
    return out


def run_script(job: Path | str, *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    """``python job.py ARGS`` with this interpreter."""
    full = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, str(job), *args], input=stdin, capture_output=True, env=full, cwd=cwd or ROOT, timeout=300)


def load_job(name: str) -> Any:
    """The job class of tests/compat/jobs/NAME.py, loaded as mrargo loads job files."""
    from mrargo.plan.build import load_job as load

    return load(str(JOBS / f"{name}.py"))[1]


def output_lines(out: Path) -> list[str]:
    """Every line of the part files, in order."""
    return [line for p in sorted(out.glob("part-*")) for line in p.read_text(encoding="utf-8").splitlines()]


def part_bytes(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.glob("part-*"))}
