"""Argo's template language, as much of it as mrargo's specs use.

- ``{{name}}`` simple tags.  Substitution is one pass: a value put in is
  never scanned again, as with Argo's fasttemplate.  ``{{=expr}}``
  expression tags are refused.
- ``retryStrategy.expression``: comparisons of ``lastRetry.*`` with string
  literals, joined by ``&&`` and ``||`` (mrargo emits
  ``lastRetry.exitCode != "3"``).  Anything else is refused.
- ``depends``: task names, optionally ``.Succeeded``, joined by ``&&``.
- Go durations (``10s``, ``1m30s``, ``1h``) for ``retryStrategy.backoff``.

Reference: https://argo-workflows.readthedocs.io/en/latest/variables/ and
https://argo-workflows.readthedocs.io/en/latest/retries/ .
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from mrargo.errors import DeterministicError

TAG = re.compile(r"\{\{(.*?)\}\}")
TASK_NAME = re.compile(r"^[A-Za-z0-9][-A-Za-z0-9_]*$")
# The variables Argo gives a retry expression; exitCode is a string, "-1"
# when there is none (https://argo-workflows.readthedocs.io/en/latest/retries/).
RETRY_VARS = ("lastRetry.exitCode", "lastRetry.status", "lastRetry.duration", "lastRetry.message")
_TOKEN = re.compile(r"""\s*(?:(\|\||&&)|(==|!=)|("(?:[^"\\]|\\.)*"|'[^'\\]*')|([A-Za-z_][A-Za-z0-9_.]*))""")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


class SpecError(DeterministicError):
    """The spec uses something the emulator does not run, is malformed, or cannot be read.

    Exit code 3, as for a job file that cannot be used: running the same
    spec again fails the same way.
    """


# -- simple tags -------------------------------------------------------------------


def tags(text: str, where: str) -> list[str]:
    """The variable names of every ``{{...}}`` in ``text``; expression tags are refused."""
    out = []
    for m in TAG.finditer(text):
        name = m.group(1).strip()
        if name.startswith("="):
            raise SpecError(f"{where}: expression tag {m.group(0)!r} is not supported by mrargo run; run this spec on Argo")
        out.append(name)
    return out


def substitute(text: str, scope: Mapping[str, str], where: str) -> str:
    """Replace every tag in one pass; the spec was checked, so a miss is a bug in it."""

    def one(m: re.Match[str]) -> str:
        name = m.group(1).strip()
        if name not in scope:
            raise SpecError(f"{where}: failed to resolve {{{{{name}}}}}")
        return scope[name]

    return TAG.sub(one, text)


# -- retryStrategy.expression ------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    var: str
    op: str  # == or !=
    literal: str

    def holds(self, scope: Mapping[str, str]) -> bool:
        return (scope.get(self.var, "") == self.literal) == (self.op == "==")


@dataclass(frozen=True)
class RetryExpression:
    """OR of ANDs of comparisons; ``text`` is kept for messages."""

    text: str
    clauses: tuple[tuple[Comparison, ...], ...]

    def evaluate(self, scope: Mapping[str, str]) -> bool:
        return any(all(c.holds(scope) for c in clause) for clause in self.clauses)


def parse_retry_expression(text: str, where: str) -> RetryExpression:
    def refuse(why: str) -> SpecError:
        return SpecError(
            f"{where} {text!r}: {why}; mrargo run evaluates only comparisons like "
            'lastRetry.exitCode != "3" joined by && and ||; run this spec on Argo'
        )

    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text.rstrip()):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise refuse(f"unexpected text at {text[pos:].strip()[:20]!r}")
        group = m.lastindex or 1  # exactly one alternative matched
        tokens.append((("bool", "op", "str", "name")[group - 1], m.group(group)))
        pos = m.end()
    clauses: list[tuple[Comparison, ...]] = []
    current: list[Comparison] = []
    i = 0
    while True:
        if [k for k, _ in tokens[i : i + 3]] != ["name", "op", "str"]:
            raise refuse('expected NAME == "literal" or NAME != "literal"')
        var, op, lit = (v for _, v in tokens[i : i + 3])
        if var not in RETRY_VARS:
            raise refuse(f"unknown variable {var!r} (known: {', '.join(RETRY_VARS)})")
        current.append(Comparison(var, op, json.loads(lit) if lit.startswith('"') else lit[1:-1]))
        i += 3
        if i == len(tokens):
            break
        kind, value = tokens[i]
        if kind != "bool" or i + 1 == len(tokens):
            raise refuse(f"unexpected {value!r}")
        if value == "||":
            clauses.append(tuple(current))
            current = []
        i += 1
    clauses.append(tuple(current))
    return RetryExpression(text, tuple(clauses))


# -- depends and durations ---------------------------------------------------------


def parse_depends(text: str, where: str) -> tuple[tuple[str, bool], ...]:
    """``A && B.Succeeded`` -> ((A, False), (B, True)); the flag means "Succeeded only".

    A bare name means ``A.Succeeded || A.Skipped || A.Daemoned``, the same as
    ``dependencies: [A]`` (https://argo-workflows.readthedocs.io/en/latest/enhanced-depends-logic/).
    """
    out = []
    for part in text.split("&&"):
        name, _, result = part.strip().partition(".")
        if not TASK_NAME.match(name) or result not in ("", "Succeeded"):
            raise SpecError(
                f"{where} {text!r}: mrargo run supports only task names (optionally .Succeeded) joined by &&; "
                "use dependencies, or run this spec on Argo"
            )
        out.append((name, result == "Succeeded"))
    return tuple(out)


def parse_duration(text: str, where: str) -> float:
    """Seconds in a Go duration (``1m30s``); a bare number is seconds, as Argo reads it."""
    text = str(text).strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    if not text or _DURATION.sub("", text):
        raise SpecError(f"{where} {text!r} is not a duration like 10s, 1m30s or 1h")
    return sum(float(n) * _UNITS[u] for n, u in _DURATION.findall(text))


