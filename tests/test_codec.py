"""The key codec: round trips, and byte order equals the documented key order."""

from __future__ import annotations

import functools
import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mrargo.runtime.codec import CodecError, decode_key, decode_value, dumps_text, encode_key, encode_value

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(st.text(max_size=5), children, max_size=4)),
    max_leaves=12,
)


def rank(x: Any) -> int:
    if x is None:
        return 0
    if x is False:
        return 1
    if x is True:
        return 2
    if isinstance(x, (int, float)):
        return 3
    if isinstance(x, str):
        return 4
    if isinstance(x, list):
        return 5
    return 6


def ref_cmp(a: Any, b: Any) -> int:
    """The documented order, written independently of the encoder."""
    ra, rb = rank(a), rank(b)
    if ra != rb:
        return -1 if ra < rb else 1
    if ra == 3:
        # Exact comparison of ints and floats (floats are exact rationals).
        from fractions import Fraction

        fa, fb = Fraction(a), Fraction(b)
        if fa != fb:
            return -1 if fa < fb else 1
        if type(a) is type(b):
            if isinstance(a, float) and math.copysign(1, a) != math.copysign(1, b):
                return -1 if math.copysign(1, a) < 0 else 1
            return 0
        return -1 if isinstance(a, int) else 1  # int before equal float
    if ra == 4:
        ca, cb = [ord(c) for c in a], [ord(c) for c in b]
        return (ca > cb) - (ca < cb)
    if ra == 5:
        for x, y in zip(a, b):
            c = ref_cmp(x, y)
            if c:
                return c
        return (len(a) > len(b)) - (len(a) < len(b))
    if ra == 6:
        ia = sorted(a.items(), key=lambda kv: [ord(c) for c in kv[0]])
        ib = sorted(b.items(), key=lambda kv: [ord(c) for c in kv[0]])
        return ref_cmp([[k, v] for k, v in ia], [[k, v] for k, v in ib])
    return 0


def same_json(a: Any, b: Any) -> bool:
    """Equal as JSON data, types included.

    ``==`` cannot see a wrong type: 1 == 1.0 == True, and 0.0 == -0.0.
    JSON text can (1, 1.0, true, -0.0), and sorted keys ignore only the
    order of an object's keys, which JSON does not define.
    """
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


@settings(max_examples=400)
@given(json_values)
def test_key_round_trip(x: Any) -> None:
    b = encode_key(x)
    back = decode_key(b)
    assert same_json(back, x)
    assert encode_key(back) == b


@settings(max_examples=400)
@given(json_values)
def test_value_round_trip(x: Any) -> None:
    b = encode_value(x)
    back = decode_value(b)
    assert same_json(back, x)
    assert encode_value(back) == b


@pytest.mark.parametrize("x", [1, 1.0, True, 0.0, -0.0, 2**53 + 1, float(2**53), "1", None, [1, 1.0, True], {"a": False}])
def test_round_trips_keep_the_type(x: Any) -> None:
    # The values that == confuses, as fixed examples: a decoder that turned
    # 1.0 into 1, or True into 1, must fail here whatever hypothesis draws.
    for encode, decode in ((encode_key, decode_key), (encode_value, decode_value)):
        back = decode(encode(x))
        assert same_json(back, x) and type(back) is type(x), (encode.__name__, x, back)


@settings(max_examples=600)
@given(json_values, json_values)
def test_byte_order_is_key_order(a: Any, b: Any) -> None:
    ea, eb = encode_key(a), encode_key(b)
    assert ((ea > eb) - (ea < eb)) == ref_cmp(a, b)


@given(st.lists(json_values, max_size=20))
def test_sorting_encodings_sorts_values(xs: list[Any]) -> None:
    by_bytes = [decode_key(e) for e in sorted(encode_key(x) for x in xs)]
    by_ref = sorted(xs, key=functools.cmp_to_key(ref_cmp))
    assert [encode_key(x) for x in by_bytes] == [encode_key(x) for x in by_ref]


def test_numbers_sort_numerically_across_int_and_float() -> None:
    keys = [2, 1.5, -3, 10, 1, -0.5, 2**60 + 1, 2.0**60]
    assert sorted(keys, key=encode_key) == [-3, -0.5, 1, 1.5, 2, 10, 2.0**60, 2**60 + 1]


def test_type_order() -> None:
    keys = [{"a": 1}, [1], "a", 3, True, False, None]
    assert sorted(keys, key=encode_key) == [None, False, True, 3, "a", [1], {"a": 1}]


def test_tuples_come_back_as_lists() -> None:
    assert decode_key(encode_key(("a", 1))) == ["a", 1]
    assert decode_value(encode_value(("a", 1))) == ["a", 1]


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), object(), {1, 2}, b"bytes", ["ok", object()]])
def test_unencodable_keys_and_values_name_the_type(bad: Any) -> None:
    with pytest.raises(CodecError, match="cannot encode"):
        encode_key(bad)
    with pytest.raises(CodecError, match="cannot encode"):
        encode_value(bad)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf"), [1, float("nan")], {"x": float("inf")}])
def test_nan_and_infinity_are_named_as_not_json(bad: Any) -> None:
    # Not "cannot encode float: ... must be JSON data (..., float, ...)", which contradicts itself.
    for encode in (encode_key, encode_value, dumps_text):
        with pytest.raises(CodecError) as e:
            encode(bad)
        assert str(e.value).startswith("cannot encode float ") and "NaN and infinity are not JSON numbers" in str(e.value)
        assert "must be JSON data" not in str(e.value)


def test_value_error_names_the_inner_type() -> None:
    class Point:
        pass

    with pytest.raises(CodecError, match="cannot encode Point"):
        dumps_text({"p": Point()})


def test_non_string_dict_keys_are_refused_in_keys() -> None:
    with pytest.raises(CodecError, match="dict key of type int"):
        encode_key({1: "a"})


def test_output_text_is_compact_utf8_json() -> None:
    assert dumps_text({"b": [1, 2.5, None], "é": True}) == '{"b":[1,2.5,null],"é":true}'


@given(json_values)
def test_value_bytes_are_jsons_own(x: Any) -> None:
    # encode_value reuses one C encoder; its text must be exactly json's.
    assert encode_value(x) == json.dumps(x, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8", "surrogatepass")


def test_the_reused_encoder_recovers_from_a_failure() -> None:
    # A failure mid-list leaves the list's id in the circular-reference
    # markers; a later list at the same address must still encode.
    for _ in range(100):
        with pytest.raises(CodecError):
            encode_value([1, [2, object()]])
        assert encode_value([1, [2, 3]]) == b"[1,[2,3]]"
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(CodecError, match="list"):
        encode_value(loop)
    assert encode_value([[], {}]) == b"[[],{}]"


def test_negative_zero_sorts_between_the_int_and_the_float() -> None:
    # As 1 < 1.0: 0 < -0.0 < 0.0, alone and nested (hypothesis once found
    # [[0.0, 0]] sorting after [[0.0, -0.0]]), and each decodes to itself.
    order = [0, -0.0, 0.0, 1, 1.0]
    encoded = [encode_key(x) for x in order]
    assert encoded == sorted(encoded)
    assert encode_key([[0.0, 0]]) < encode_key([[0.0, -0.0]]) < encode_key([[0.0, 0.0]])
    for x in order:
        assert same_json(decode_key(encode_key(x)), x) and type(decode_key(encode_key(x))) is type(x)


def test_a_number_of_another_encoding_is_an_error_not_a_wrong_value() -> None:
    # Format 1 ended every float with flag 1, which now means -0.0: a 3.5
    # written so must not come back as -0.0.
    old = encode_key(3.5)[:-1] + b"\x01"
    with pytest.raises(CodecError, match="bad number encoding"):
        decode_key(old)
    with pytest.raises(CodecError, match="bad number encoding"):
        decode_key(encode_key(3.5)[:-1] + b"\x07")
