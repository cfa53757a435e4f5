"""The benchmark corpus: parse a size, build the corpus once, reuse it after.

Corpora are cached under bench/corpus/ (gitignored) as ``<bytes>b-<files>f/``
beside a ``.json`` written only once every file is complete, so a build that
was interrupted is built again rather than reused.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time

from corpus import write_corpus
from results_io import corpus_files

CACHE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 2**10, "mib": 2**20, "gib": 2**30}
DISTINCT = 200_000
SEED = 1


def parse_size(text: str) -> int:
    """'500MB' -> 500_000_000; KB/MB/GB are decimal, KiB/MiB/GiB binary."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    unit = match.group(2).lower() if match else ""
    if not match or unit not in UNITS:
        raise ValueError(f"size {text!r}: expected a number and a unit, like 500MB, 20MB or 2GiB")
    return int(float(match.group(1)) * UNITS[unit])


def cached_corpus(total_bytes: int, files: int) -> str:
    """The directory of a corpus of that size and file count, built if not cached yet."""
    name = f"{total_bytes}b-{files}f"
    directory = os.path.join(CACHE, name)
    marker = directory + ".json"
    meta = {"total_bytes": total_bytes, "files": files, "distinct": DISTINCT, "seed": SEED}
    if os.path.exists(marker):
        with open(marker, encoding="utf-8") as f:
            if json.load(f) == meta:
                return directory
    shutil.rmtree(directory, ignore_errors=True)
    print(f"bench: writing a {total_bytes / 1e6:.0f} MB corpus in {files} files to {directory} (once; cached after)", flush=True)
    start = time.perf_counter()
    write_corpus(directory, total_bytes, files, distinct=DISTINCT, seed=SEED)
    with open(marker, "w", encoding="utf-8") as f:
        json.dump(meta, f)
    print(f"bench: corpus written in {time.perf_counter() - start:.0f} s", flush=True)
    return directory


def warm(paths: list[str]) -> int:
    """Read every file once so each peer starts with the same warm page cache; return the bytes."""
    total = 0
    for path in paths:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                total += len(chunk)
    return total


def existing(directory: str) -> list[str]:
    paths = corpus_files(directory)
    if not os.path.isdir(directory) or not paths:
        raise ValueError(f"--corpus {directory}: expected a directory of text files, found none")
    return paths
