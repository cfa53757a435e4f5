"""mrjob's protocols: the exact bytes each writes, and what each reads back."""

from __future__ import annotations

from typing import Any

import pytest

from mrargo.compat.mrjob import protocol as p

WRITES: list[tuple[Any, Any, Any, bytes]] = [
    (p.JSONProtocol, "café", [1, {"a": None}], b'"caf\\u00e9"\t[1, {"a": null}]'),
    (p.JSONProtocol, ("x", 2), 1.5, b'["x", 2]\t1.5'),
    (p.JSONValueProtocol, "ignored", {"k": [True, False]}, b'{"k": [true, false]}'),
    (p.TextProtocol, "key", "välue", "key\tvälue".encode()),
    (p.TextProtocol, "key", None, b"key"),
    (p.TextProtocol, None, "value", b"value"),
    (p.TextValueProtocol, "ignored", "plain line", b"plain line"),
    (p.BytesProtocol, b"k", b"v\tw", b"k\tv\tw"),
    (p.BytesValueProtocol, b"k", b"\xff\x00raw", b"\xff\x00raw"),
    (p.ReprProtocol, ("a", 1), {2, 3}, b"('a', 1)\t{2, 3}"),
    (p.ReprValueProtocol, None, set(), b"set()"),
]


@pytest.mark.parametrize("cls,key,value,line", WRITES, ids=[f"{c.__name__}-{i}" for i, (c, *_) in enumerate(WRITES)])
def test_write(cls: type, key: Any, value: Any, line: bytes) -> None:
    assert cls().write(key, value) == line


READS: list[tuple[Any, bytes, tuple[Any, Any]]] = [
    (p.JSONProtocol, b'"k"\t[1, 2]', ("k", [1, 2])),
    (p.JSONValueProtocol, b'{"a": 1}', (None, {"a": 1})),
    (p.TextProtocol, b"k\tv\tw", ("k", "v\tw")),
    (p.TextProtocol, b"just a key", ("just a key", None)),
    (p.TextProtocol, b"caf\xe9\tx", ("café", "x")),  # not UTF-8: latin-1, as mrjob
    (p.TextValueProtocol, b"\xff line", (None, "ÿ line")),
    (p.RawValueProtocol, "naïve".encode(), (None, "naïve")),
    (p.BytesProtocol, b"k\tv", (b"k", b"v")),
    (p.BytesProtocol, b"k", (b"k", None)),
    (p.BytesValueProtocol, b"k\tv", (None, b"k\tv")),
    (p.ReprProtocol, b"('a', 1)\t{2, 3}", (("a", 1), {2, 3})),
    (p.ReprValueProtocol, b"set()", (None, set())),
]


@pytest.mark.parametrize("cls,line,pair", READS, ids=[f"{c.__name__}-{i}" for i, (c, *_) in enumerate(READS)])
def test_read(cls: type, line: bytes, pair: tuple[Any, Any]) -> None:
    assert cls().read(line) == pair


def test_raw_protocols_are_the_text_ones() -> None:
    assert p.RawProtocol is p.TextProtocol and p.RawValueProtocol is p.TextValueProtocol


def test_repr_reads_literals_and_never_runs_code() -> None:
    with pytest.raises(ValueError, match="ReprProtocol reads Python literals only"):
        p.ReprValueProtocol().read(b"__import__('os').system('echo hi')")


def test_text_is_the_written_line_as_a_str() -> None:
    assert p.JSONProtocol().text("a", 1) == '"a"\t1'
    assert p.BytesValueProtocol().text(None, b"ok") == "ok"
    with pytest.raises(ValueError, match="wrote bytes that are not UTF-8"):
        p.BytesValueProtocol().text(None, b"\xff")
    with pytest.raises(TypeError, match="TextValueProtocol writes str values, got int"):
        p.TextValueProtocol().text(None, 3)


def test_other_json_libraries_are_named_not_silently_swapped() -> None:
    with pytest.raises(ImportError, match="UltraJSONProtocol is not provided: mrargo's protocols use Python's json module; use JSONProtocol"):
        from mrargo.compat.mrjob.protocol import UltraJSONProtocol  # noqa: F401
