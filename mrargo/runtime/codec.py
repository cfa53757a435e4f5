"""Record codec: JSON keys and values to bytes, with a byte order that is the key order.

Keys are encoded so that comparing the encodings as bytes gives one total
order over every JSON value, whatever its type:

    null < false < true < numbers < strings < lists < objects

- Numbers compare by numeric value, ints and floats together (1 < 1.5 < 2).
  An int and a float of equal value are distinct keys; the int sorts first.
- Strings compare by Unicode code point.
- Lists compare element by element; a prefix sorts first.
- Objects compare as their (key, value) pairs sorted by key.

Tuples encode as lists and come back as lists.  NaN and infinities have no
place in JSON and are refused, as are types JSON cannot hold.

Values are plain JSON text (C-accelerated), unless a job asks for sorted
values, in which case they use the key encoding too.
"""

from __future__ import annotations

import codecs
import functools
import json
import json.scanner
import math
import struct
from collections.abc import Callable
from typing import Any

from mrargo.runtime.speedups import speedup

# Type tags.  Nested encodings end with 0x00, below every tag, so that a
# shorter list sorts before a longer one that extends it.
_NULL, _FALSE, _TRUE, _NUM, _STR, _LIST, _DICT = (bytes([i]) for i in range(1, 8))
_END = b"\x00"
_F64 = struct.Struct(">Q")
_PACK_D = struct.Struct(">d").pack
_UNPACK_D = struct.Struct(">d").unpack
_SIGN = 1 << 63
_MASK = (1 << 64) - 1
_EXACT_LIMIT = 1 << 53  # ints below this convert to float exactly

_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
_quote = json.encoder.encode_basestring  # the C string quoter json itself uses
_decode = json.JSONDecoder().decode


def _make_dumps() -> Callable[[Any], str]:
    """_ENCODER.encode without building a C encoder on every call.

    JSONEncoder.encode makes a new one each time, which costs more than
    encoding a short list.  This one is made once, with the arguments
    encode passes, so the text is the same.  Its circular-reference
    markers are cleared after a failure, which can leave entries behind.
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - CPython always has it
        return _ENCODER.encode
    markers: dict[int, Any] = {}
    e = _ENCODER
    encode = make(markers, e.default, _quote, None, e.key_separator, e.item_separator, e.sort_keys, e.skipkeys, e.allow_nan)

    def dumps(x: Any) -> str:
        try:
            return "".join(encode(x, 0))
        except BaseException:
            markers.clear()
            raise

    return dumps


def _make_loads() -> Callable[[str], Any]:
    """_decode without its whitespace handling: values are only ever read back from what encode_value wrote."""
    make = getattr(json.scanner, "c_make_scanner", None)
    if make is None:  # pragma: no cover - CPython always has it
        return _decode
    scan = make(json.JSONDecoder())

    def loads(s: str) -> Any:
        try:
            x, end = scan(s, 0)
        except StopIteration:
            return _decode(s)  # raises the JSON error
        return x if end == len(s) else _decode(s)

    return loads


_dumps = _make_dumps()
_loads = _make_loads()
_INT_START = frozenset(b"-0123456789")


class CodecError(ValueError):
    """A value cannot be encoded; the message names its type."""


# The one message for a float JSON cannot hold, as a key or as a value.
_NOT_JSON_NUMBER = "cannot encode float {!r}: NaN and infinity are not JSON numbers; use None or a string"


def _f64_sortable(x: float) -> bytes:
    bits = _F64.unpack(_PACK_D(x))[0]
    bits = (bits ^ _MASK) if bits & _SIGN else (bits | _SIGN)
    return _F64.pack(bits)


def _f64_from_sortable(b: bytes) -> float:
    bits = _F64.unpack(b)[0]
    bits = (bits ^ _SIGN) if bits & _SIGN else (bits ^ _MASK)
    return float(_UNPACK_D(_F64.pack(bits))[0])


def _encode_number(x: int | float) -> bytes:
    """Fixed 8-byte float prefix, then a suffix that orders exact ints.

    An int n sorts by float(n) first and then by d = n - int(float(n)), the
    rounding error, so huge ints stay exact and in order among floats.  A
    float of an int's value comes after it (flag 2 after 0); -0.0 takes 0's
    prefix and flag 1, so that 0 < -0.0 < 0.0, as 1 < 1.0.
    """
    if type(x) is float:
        if x != x or x in (float("inf"), float("-inf")):
            raise CodecError(_NOT_JSON_NUMBER.format(x))
        if x == 0 and math.copysign(1.0, x) < 0:
            return _NUM + _f64_sortable(0.0) + b"\x01\x01"
        return _NUM + _f64_sortable(x) + b"\x01\x02"
    assert isinstance(x, int)
    if -_EXACT_LIMIT < x < _EXACT_LIMIT:
        return _NUM + _f64_sortable(float(x)) + b"\x01\x00"
    try:
        f = float(x)
    except OverflowError:
        raise CodecError(f"cannot encode int with {x.bit_length()} bits: too large to sort") from None
    d = x - int(f)
    if d == 0:
        return _NUM + _f64_sortable(f) + b"\x01\x00"
    mag = abs(d).to_bytes((abs(d).bit_length() + 7) // 8, "big")
    if d > 0:
        return _NUM + _f64_sortable(f) + b"\x02" + bytes([len(mag)]) + mag
    # Negative deltas: larger magnitude sorts first, so invert every byte.
    inv = bytes(255 - b for b in mag)
    return _NUM + _f64_sortable(f) + b"\x00" + bytes([255 - len(mag)]) + inv


def _encode_nested(x: Any, out: list[bytes]) -> None:
    t = type(x)
    if t is str:
        out.append(_STR + x.encode("utf-8", "surrogatepass").replace(b"\x00", b"\x00\xff") + _END)
    elif x is None:
        out.append(_NULL)
    elif x is True:
        out.append(_TRUE)
    elif x is False:
        out.append(_FALSE)
    elif t is int or t is float:
        out.append(_encode_number(x))
    elif t is list or t is tuple:
        out.append(_LIST)
        for item in x:
            _encode_nested(item, out)
        out.append(_END)
    elif t is dict:
        out.append(_DICT)
        items = []
        for k, v in x.items():
            if type(k) is not str:
                raise CodecError(f"cannot encode dict key of type {type(k).__name__}: JSON object keys are strings")
            items.append((k.encode("utf-8", "surrogatepass"), v))
        items.sort(key=lambda kv: kv[0])
        for kb, v in items:
            out.append(_STR + kb.replace(b"\x00", b"\x00\xff") + _END)
            _encode_nested(v, out)
        out.append(_END)
    elif isinstance(x, (int, float)) and not isinstance(x, bool):
        _encode_nested(int(x) if isinstance(x, int) else float(x), out)
    elif isinstance(x, str):
        _encode_nested(str(x), out)
    else:
        raise CodecError(f"cannot encode {t.__name__}: keys and values must be JSON data (str, int, float, bool, None, list, dict)")


def encode_key(x: Any) -> bytes:
    """Encode a JSON value so that byte order is the documented key order."""
    if type(x) is str:
        # Top level: the record frame carries the length, so no escaping.
        return _STR + x.encode("utf-8", "surrogatepass")
    out: list[bytes] = []
    _encode_nested(x, out)
    return b"".join(out)


def decode_key(b: bytes) -> Any:
    """Inverse of encode_key."""
    if b[:1] == _STR:
        return b[1:].decode("utf-8", "surrogatepass")
    value, pos = _decode_nested(b, 0)
    if pos != len(b):
        raise CodecError(f"trailing bytes in encoded key at {pos}")
    return value


def _decode_nested(b: bytes, pos: int) -> tuple[Any, int]:
    tag = b[pos : pos + 1]
    pos += 1
    if tag == _STR:
        out = bytearray()
        while True:
            i = b.index(b"\x00", pos)
            out += b[pos:i]
            if b[i + 1 : i + 2] == b"\xff":
                out += b"\x00"
                pos = i + 2
            else:
                return out.decode("utf-8", "surrogatepass"), i + 1
    if tag == _NULL:
        return None, pos
    if tag == _TRUE:
        return True, pos
    if tag == _FALSE:
        return False, pos
    if tag == _NUM:
        f = _f64_from_sortable(b[pos : pos + 8])
        kind = b[pos + 8]
        pos += 9
        if kind == 1:
            flag = b[pos]  # 0: an int; 1: -0.0 (on 0.0's prefix); 2: a float
            if flag == 0:
                return int(f), pos + 1
            if flag == 2 or (flag == 1 and f == 0):
                return (f if flag == 2 else -0.0), pos + 1
            raise CodecError(f"bad number encoding (flag {flag}); was it written by another mrargo version?")
        n = b[pos] if kind == 2 else 255 - b[pos]
        mag_bytes = b[pos + 1 : pos + 1 + n]
        if kind == 0:
            mag_bytes = bytes(255 - x for x in mag_bytes)
        mag = int.from_bytes(mag_bytes, "big")
        return int(f) + (mag if kind == 2 else -mag), pos + 1 + n
    if tag == _LIST:
        items = []
        while b[pos : pos + 1] != _END:
            item, pos = _decode_nested(b, pos)
            items.append(item)
        return items, pos + 1
    if tag == _DICT:
        d = {}
        while b[pos : pos + 1] != _END:
            k, pos = _decode_nested(b, pos)
            v, pos = _decode_nested(b, pos)
            d[k] = v
        return d, pos + 1
    raise CodecError(f"bad type tag {tag!r} at {pos - 1}")


def encode_value(x: Any) -> bytes:
    """Encode a value as compact JSON text.

    Plain ints and strings skip the JSON encoder; the bytes are the same.
    """
    t = type(x)
    if t is int:
        return str(x).encode()
    if t is str:
        return _quote(x).encode("utf-8", "surrogatepass")
    try:
        return _dumps(x).encode("utf-8", "surrogatepass")
    except (TypeError, ValueError) as e:
        raise CodecError(_describe_unencodable(x, e)) from None


def _decode_value(b: bytes) -> Any:
    """Inverse of encode_value (only ever given what it wrote).

    Ints skip the JSON parser, and text goes to a prebuilt decoder as str:
    json.loads on bytes sniffs the encoding on every call.
    """
    if b and b[0] in _INT_START:
        try:
            return int(b)
        except ValueError:
            pass  # a float
    return _loads(b.decode("utf-8", "surrogatepass"))


# The Python decoder alone, for C helpers that try their own first.
python_decode_value = _decode_value


def _dumps_text(x: Any) -> str:
    """The JSON text of a key or value in output files."""
    t = type(x)
    if t is str:
        return _quote(x)
    if t is int:
        return str(x)
    try:
        return _dumps(x)
    except (TypeError, ValueError) as e:
        raise CodecError(_describe_unencodable(x, e)) from None


def _with_c(name: str, twin: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """The C helper ``name`` with ``twin`` for what it does not take, or the twin alone (see speedups)."""
    c = speedup(name)
    return twin if c is None else functools.partial(c, twin)


# The reduce side calls these once a value and once a key or value of
# output: in C (no Python frame, no JSON machinery) for small ints, plain
# ASCII strs and lists of those; their Python twins do the rest.
decode_value: Callable[[bytes], Any] = _with_c("decode_value", _decode_value)
dumps_text: Callable[[Any], str] = _with_c("dumps_text", _dumps_text)


def _text_line(key: Any, value: Any) -> str:
    """A line of output text: the key's JSON, a tab, the value's JSON, a newline."""
    return f"{_dumps_text(key)}\t{_dumps_text(value)}\n"


# The Python text of a key or value alone, for C helpers that try their own first.
python_dumps_text = _dumps_text

_text_line_c = speedup("text_line")
text_line: Callable[[Any, Any], str] = _text_line if _text_line_c is None else functools.partial(_text_line_c, _dumps_text)


def _escape_surrogates(e: UnicodeError) -> tuple[str, int]:
    """Lone surrogates as JSON's own ``\\udXXX`` escapes.

    They can only stand inside JSON strings of output text, and UTF-8
    cannot hold them: written raw, the file would not read back.
    """
    if not isinstance(e, UnicodeEncodeError):
        raise e
    return "".join(f"\\u{ord(c):04x}" for c in e.object[e.start : e.end]), e.end


codecs.register_error("mrargo-json-surrogates", _escape_surrogates)


def output_bytes(text: str) -> bytes:
    """Output text (JSON TAB JSON lines) as UTF-8, lone surrogates escaped as JSON does."""
    return text.encode("utf-8", "mrargo-json-surrogates")


def _describe_unencodable(x: Any, e: Exception) -> str:
    try:
        bad = _find_unencodable(x)
    except RecursionError:  # a value that contains itself
        bad = None
    if isinstance(bad, float):  # _find_unencodable returns only NaN and infinities of the floats
        return _NOT_JSON_NUMBER.format(bad)
    if bad is not None:
        return (
            f"cannot encode {type(bad).__name__}: keys and values must be JSON data "
            "(str, int, float, bool, None, list, dict)"
        )
    return f"cannot encode {type(x).__name__}: {e}"


def _find_unencodable(x: Any) -> Any:
    if x is None or isinstance(x, (str, bool, int)):
        return None
    if isinstance(x, float):
        return x if (x != x or x in (float("inf"), float("-inf"))) else None
    if isinstance(x, (list, tuple)):
        for item in x:
            bad = _find_unencodable(item)
            if bad is not None:
                return bad
        return None
    if isinstance(x, dict):
        for v in x.values():
            bad = _find_unencodable(v)
            if bad is not None:
                return bad
        return None
    return x
