"""The one tokenizer every Python peer of the benchmark uses.

Lower-case the line, then take each run of ASCII letters.  The mrargo peer
runs examples/*.py unchanged, which spell out this same regex themselves.
The coreutils peer reproduces it with ``tr`` (see peers/coreutils.py).
"""

from __future__ import annotations

import re

WORD = re.compile(r"[a-z]+")


def tokenize(line: str) -> list[str]:
    """The words of one line (or of a whole text: the pattern never spans a newline)."""
    return WORD.findall(line.lower())
