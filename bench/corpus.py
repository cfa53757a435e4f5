"""Deterministic synthetic text: pseudo-words with a Zipf-like distribution.

The words are made from syllables, so no text is copied from anywhere, and
the same seed always gives the same bytes.  Used by the benchmark and, at
small sizes, by the test suite.
"""

from __future__ import annotations

import itertools
import os
import random
from collections.abc import Iterator

ONSETS = ["", "b", "br", "c", "ch", "d", "dr", "f", "g", "gl", "h", "j", "k", "l", "m", "n", "p", "pl", "qu", "r", "s", "sh", "st", "t", "th", "tr", "v", "w", "z"]
VOWELS = ["a", "e", "i", "o", "u", "ai", "ea", "io", "ou", "y"]
CODAS = ["", "", "n", "r", "s", "t", "l", "m", "nd", "st", "ng", "x"]


def vocabulary(n: int, seed: int = 7) -> list[str]:
    """n distinct pseudo-words; shorter words come first (they are the common ones)."""
    syllables = [o + v + c for o, v, c in itertools.product(ONSETS, VOWELS, CODAS)]
    rng = random.Random(seed)
    rng.shuffle(syllables)
    words: list[str] = []
    seen: set[str] = set()
    for length in itertools.count(1):
        for combo in itertools.product(syllables, repeat=length):
            w = "".join(combo)
            if w not in seen and w.isalpha():
                seen.add(w)
                words.append(w)
                if len(words) == n:
                    return words
        if length > 3:
            break
    return words


def zipf_weights(n: int, exponent: float = 1.05) -> list[float]:
    """Cumulative Zipf weights of ranks 1..n."""
    return list(itertools.accumulate(1.0 / (r + 1) ** exponent for r in range(n)))


def lines(vocab: list[str], seed: int, exponent: float = 1.05, cum: list[float] | None = None) -> Iterator[str]:
    """An endless stream of lines of 1..20 words, Zipf-distributed (cum: zipf_weights(len(vocab), exponent), if made already)."""
    rng = random.Random(seed)
    if cum is None:
        cum = zipf_weights(len(vocab), exponent)
    choices = rng.choices
    randint = rng.randint
    while True:
        batch = choices(vocab, cum_weights=cum, k=4096)
        i = 0
        while i < len(batch):
            n = randint(1, 20)
            words = batch[i : i + n]
            i += n
            if rng.random() < 0.08:
                words[0] = words[0].capitalize()
            yield " ".join(words) + ("." if rng.random() < 0.5 else "")


def write_corpus(directory: str, total_bytes: int, files: int, distinct: int = 200_000, seed: int = 1) -> list[str]:
    """Write ``files`` text files of about total_bytes in all; return their paths."""
    os.makedirs(directory, exist_ok=True)
    vocab = vocabulary(distinct)
    cum = zipf_weights(len(vocab))  # once, not per file: many small files are the small-input row
    per_file = max(1, total_bytes // files)
    paths = []
    for f in range(files):
        path = os.path.join(directory, f"part-{f:04d}.txt")
        gen = lines(vocab, seed * 1_000_003 + f, cum=cum)
        written = 0
        chunk: list[str] = []
        with open(path, "w", encoding="utf-8") as out:
            for line in gen:
                chunk.append(line)
                written += len(line) + 1
                if len(chunk) >= 2048:
                    out.write("\n".join(chunk) + "\n")
                    chunk.clear()
                if written >= per_file:
                    break
            if chunk:
                out.write("\n".join(chunk) + "\n")
        paths.append(path)
    return paths
