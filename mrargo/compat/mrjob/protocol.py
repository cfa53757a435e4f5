"""mrjob's protocols: how a (key, value) pair becomes one line of bytes, and back.

The wire formats are mrjob's own, byte for byte, so a ported job reads the
same input and writes the same output:

    JSONProtocol        json(key) TAB json(value)   (Python's json, as mrjob without ujson)
    JSONValueProtocol   json(value); the key is dropped, and read as None
    TextProtocol        key TAB value, UTF-8; no TAB when either is None
    TextValueProtocol   the value, UTF-8; read falls back to latin-1
    BytesProtocol       as TextProtocol, with bytes in and out
    BytesValueProtocol  as TextValueProtocol, with bytes
    ReprProtocol        repr(key) TAB repr(value); read back as literals only
    PickleProtocol      escaped pickles: written only, never read by mrargo

``RawProtocol`` and ``RawValueProtocol`` are the Text ones, as on Python 3.
Each class also has ``text(key, value)``, the line as a str, which the job
uses to write output without a bytes round trip.
"""

from __future__ import annotations

import ast
import json
import pickle
from typing import Any

from mrargo.errors import JobDefinitionError

__all__ = [
    "BytesProtocol",
    "BytesValueProtocol",
    "JSONProtocol",
    "JSONValueProtocol",
    "PickleProtocol",
    "PickleValueProtocol",
    "Protocol",
    "RawProtocol",
    "RawValueProtocol",
    "ReprProtocol",
    "ReprValueProtocol",
    "StandardJSONProtocol",
    "StandardJSONValueProtocol",
    "TextProtocol",
    "TextValueProtocol",
]

Pair = tuple[Any, Any]


class Protocol:
    """What every protocol offers: read a line (bytes, no newline), write a pair; a base for protocols of your own."""

    def read(self, line: bytes) -> Pair:
        raise NotImplementedError  # each protocol below defines it

    def write(self, key: Any, value: Any) -> bytes:
        raise NotImplementedError

    def text(self, key: Any, value: Any) -> str:
        """The written line as text; output must be UTF-8, so other bytes are an error."""
        data = self.write(key, value)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ValueError(
                f"{type(self).__name__} wrote bytes that are not UTF-8 (at byte {e.start}); mrargo writes text output, so write str or UTF-8"
            ) from None


class _KeyCaching(Protocol):
    """A key TAB value protocol that decodes a run of equal keys once (a reducer reads them one after another)."""

    _last: tuple[bytes, Any] = (b"", None)

    def _loads(self, data: bytes) -> Any:
        raise NotImplementedError  # each subclass decodes its own format

    def read(self, line: bytes) -> Pair:
        key, tab, value = line.partition(b"\t")
        if not tab:
            raise ValueError(f"{type(self).__name__} expects key TAB value, got a line without a tab: {line[:60]!r}")
        last_key, decoded = self._last
        if key != last_key or not last_key:
            decoded = self._loads(key)
            self._last = (key, decoded)
        return decoded, self._loads(value)


def _split(line: bytes) -> tuple[bytes, bytes | None]:
    key, tab, value = line.partition(b"\t")
    return key, (value if tab else None)


class JSONProtocol(_KeyCaching):
    """``json(key) TAB json(value)``, with Python's json defaults (ASCII, ``", "`` separators)."""

    def _loads(self, data: bytes) -> Any:
        return json.loads(data)

    def write(self, key: Any, value: Any) -> bytes:
        return self.text(key, value).encode("utf-8")

    def text(self, key: Any, value: Any) -> str:
        return json.dumps(key) + "\t" + json.dumps(value)


class JSONValueProtocol(Protocol):
    """``json(value)``; the key is dropped on write and None on read."""

    def read(self, line: bytes) -> Pair:
        return None, json.loads(line)

    def write(self, key: Any, value: Any) -> bytes:
        return json.dumps(value).encode("utf-8")

    def text(self, key: Any, value: Any) -> str:
        return json.dumps(value)


class TextProtocol(Protocol):
    """UTF-8 ``key TAB value``; a None side is left out with its tab.  Reading falls back to latin-1."""

    def read(self, line: bytes) -> Pair:
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            text = line.decode("latin-1")
        key, tab, value = text.partition("\t")
        return key, (value if tab else None)

    def write(self, key: Any, value: Any) -> bytes:
        return self.text(key, value).encode("utf-8")

    def text(self, key: Any, value: Any) -> str:
        return "\t".join(x for x in (key, value) if x is not None)


class TextValueProtocol(Protocol):
    """The line is the value (UTF-8, else latin-1); the key is None on read and dropped on write."""

    def read(self, line: bytes) -> Pair:
        try:
            return None, line.decode("utf-8")
        except UnicodeDecodeError:
            return None, line.decode("latin-1")

    def write(self, key: Any, value: Any) -> bytes:
        return self.text(key, value).encode("utf-8")

    def text(self, key: Any, value: Any) -> str:
        if not isinstance(value, str):
            # mrjob would fail in value.encode(); say what was wrong.
            raise TypeError(f"TextValueProtocol writes str values, got {type(value).__name__} {value!r:.60}")
        return value


class BytesProtocol(Protocol):
    """``key TAB value`` as bytes; a None side is left out with its tab."""

    def read(self, line: bytes) -> Pair:
        return _split(line)

    def write(self, key: Any, value: Any) -> bytes:
        return b"\t".join(x for x in (key, value) if x is not None)


class BytesValueProtocol(Protocol):
    """The line, as bytes, is the value; the key is None on read and dropped on write."""

    def read(self, line: bytes) -> Pair:
        return None, line

    def write(self, key: Any, value: Any) -> bytes:
        return bytes(value)


RawProtocol = TextProtocol
RawValueProtocol = TextValueProtocol
# mrjob picks ujson, rapidjson or simplejson when installed; mrargo always
# uses Python's json, which is what mrjob uses when none of them is.
StandardJSONProtocol = JSONProtocol
StandardJSONValueProtocol = JSONValueProtocol


def _literal(text: bytes) -> Any:
    # ast.literal_eval, not mrjob's eval(): reading a line must never run
    # code.  repr() of every basic type is a literal except the empty set.
    # ints and plain strs, the common keys and values, skip the parser.
    s = text.decode("utf-8")
    if s.isascii() and (s.isdigit() or (s[:1] == "-" and s[1:].isdigit())):
        return int(s)
    if len(s) > 1 and s[0] == s[-1] and s[0] in "'\"" and "\\" not in s and s[0] not in s[1:-1]:
        return s[1:-1]
    if s == "set()":
        return set()
    try:
        return ast.literal_eval(s)
    except (ValueError, SyntaxError) as e:
        raise ValueError(f"ReprProtocol reads Python literals only (str, bytes, numbers, tuples, lists, dicts, sets, None, bools); cannot read {s[:60]!r}: {e}") from None


class ReprProtocol(_KeyCaching):
    """``repr(key) TAB repr(value)``, read back with ast.literal_eval."""

    def _loads(self, data: bytes) -> Any:
        return _literal(data)

    def write(self, key: Any, value: Any) -> bytes:
        return self.text(key, value).encode("utf-8")

    def text(self, key: Any, value: Any) -> str:
        return repr(key) + "\t" + repr(value)


class ReprValueProtocol(Protocol):
    """``repr(value)``; the key is dropped on write and None on read."""

    def read(self, line: bytes) -> Pair:
        return None, _literal(line)

    def write(self, key: Any, value: Any) -> bytes:
        return repr(value).encode("utf-8")

    def text(self, key: Any, value: Any) -> str:
        return repr(value)


PICKLE_REFUSED = (
    "mrargo never unpickles data: anyone who can write to the input or the work folder could run code in a task; "
    "use JSONProtocol, or ReprProtocol for tuples and sets"
)


def _escaped_pickle(value: Any) -> bytes:
    # mrjob's format: the pickle's bytes, escaped so tabs and newlines cannot appear.
    return pickle.dumps(value).decode("latin-1").encode("unicode_escape")


class PickleProtocol(Protocol):
    """Escaped pickles, ``pickle(key) TAB pickle(value)``: allowed as OUTPUT_PROTOCOL only."""

    def read(self, line: bytes) -> Pair:
        raise JobDefinitionError(f"{type(self).__name__} cannot read: {PICKLE_REFUSED}")

    def write(self, key: Any, value: Any) -> bytes:
        return _escaped_pickle(key) + b"\t" + _escaped_pickle(value)


class PickleValueProtocol(Protocol):
    """An escaped pickle of the value: allowed as OUTPUT_PROTOCOL only."""

    def read(self, line: bytes) -> Pair:
        raise JobDefinitionError(f"{type(self).__name__} cannot read: {PICKLE_REFUSED}")

    def write(self, key: Any, value: Any) -> bytes:
        return _escaped_pickle(value)


_NOT_HERE = {
    "UltraJSONProtocol": "JSONProtocol",
    "UltraJSONValueProtocol": "JSONValueProtocol",
    "RapidJSONProtocol": "JSONProtocol",
    "RapidJSONValueProtocol": "JSONValueProtocol",
    "SimpleJSONProtocol": "JSONProtocol",
    "SimpleJSONValueProtocol": "JSONValueProtocol",
}


def __getattr__(name: str) -> Any:
    if name in _NOT_HERE:
        raise ImportError(f"{name} is not provided: mrargo's protocols use Python's json module; use {_NOT_HERE[name]} (the same data, spaced as json.dumps spaces it)")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
