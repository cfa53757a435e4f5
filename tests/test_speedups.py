"""The map side's C loop (mrargo.runtime._speedups) against its Python twin.

Both must give the same bytes, counters and errors for any stream of pairs,
through in-place combining and spills; the C module must not leak.
"""

from __future__ import annotations

import collections
import contextlib
import importlib
import functools
import gc
import json
import random
import zlib
import io
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mrargo.errors import EncodeError, UserCodeError
from mrargo.runtime import codec, mapside, runfile, speedups
from mrargo.runtime.codec import CodecError

# The C module itself, whether or not this run uses it: CI runs the suite
# twice, with the C helpers (the default) and with MRARGO_PURE_PYTHON=1,
# and the tests of the C functions run both times.
_c = importlib.import_module("mrargo.runtime._speedups")
C = {
    (mapside, "group_pairs"): _c.group_pairs,
    (mapside, "bucket_pairs"): _c.bucket_pairs,
    (mapside, "sort_records"): _c.sort_records,
    (runfile, "pack_records"): _c.pack_records,
    (runfile, "unpack_records"): _c.unpack_records,
    (runfile, "merge_runs"): _c.merge_runs,
    (mapside, "OnesTable"): _c.OnesTable,
}
C_LOOP = _c.group_pairs


def test_the_c_helpers_are_built_and_used_unless_pure_python_is_asked_for() -> None:
    # .ci/run installs a compiler; a build without one falls back to Python.
    assert speedups.built(), "mrargo.runtime._speedups was not built: is a C compiler installed?"
    used = [getattr(module, name) for module, name in C]
    if speedups.PURE:
        assert all(f is None for f in used)
    else:
        assert used == list(C.values())


@contextlib.contextmanager
def helpers(use_c: bool) -> Iterator[None]:
    """The C helpers, or their Python twins; then what the run had before."""
    saved = {key: getattr(*key) for key in C}
    try:
        for (module, name), f in C.items():
            setattr(module, name, f if use_c else None)
        yield
    finally:
        for (module, name), f in saved.items():
            setattr(module, name, f)


def summing(key: Any, values: Iterator[Any]) -> Iterator[tuple[Any, Any]]:
    vals = list(values)
    if all(type(v) is int for v in vals):
        yield key, sum(vals)
    else:  # keep the others, in the order given, to catch a reordering
        yield key, [repr(v) for v in vals]


def run_map(pairs_per_record: list[list[Any]], *, use_c: bool, buffer_bytes: int, tmp: str, combiner: Any = summing) -> tuple[Any, ...]:
    with helpers(use_c):
        counters: dict[str, int] = {}
        out = mapside.MapOutput(partitions=3, label="map 1/1", buffer_bytes=buffer_bytes, tmpdir=tmp, combiner=combiner, counters=counters)
        out.map_records(((None, ps) for ps in pairs_per_record), lambda _, ps: iter(ps))
        f = io.BytesIO()
        segments = out.finish(f)
        data = f.getvalue()
        # Read every segment back, with the same helpers.
        records = [list(runfile.iter_records(io.BytesIO(data[a:b]).read, "seg", "map", n)) for a, b, n in segments]
        return data, segments, counters, records


keys = st.one_of(st.sampled_from(["a", "b", "c", "é", ""]), st.integers(-2, 2), st.booleans(), st.none(), st.sampled_from([1.0, 2.5]))
texts = st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=4) | st.sampled_from(['a"b\\c', "\x00\x1f\x7f\b\f\n\r\t", "é", "\ud800"])
values = st.one_of(
    st.just(1),
    st.integers(-3, 300),
    st.integers(-(2**70), 2**70),
    st.booleans(),
    st.sampled_from([1.0, "1", None]),
    st.lists(st.integers(0, 2), max_size=2),
    st.lists(texts, max_size=3),
)
pair = st.one_of(st.tuples(keys, values), st.lists(keys, min_size=2, max_size=2))


@settings(max_examples=150, deadline=None)
@given(records=st.lists(st.lists(pair, max_size=40), max_size=30), budget=st.sampled_from([200, 5_000, 1 << 20]))
def test_c_and_python_loops_write_identical_bytes(records: list[list[Any]], budget: int, tmp_path_factory: pytest.TempPathFactory) -> None:
    tmp = str(tmp_path_factory.mktemp("spills"))
    assert run_map(records, use_c=True, buffer_bytes=budget, tmp=tmp) == run_map(records, use_c=False, buffer_bytes=budget, tmp=tmp)


def test_many_pairs_with_checks_spills_and_in_place_combining(tmp_path) -> None:
    # Enough pairs to cross CHECK_EVERY many times, with a budget that forces
    # in-place combining and spills; every (word, 1) must be counted once.
    words = [f"w{i % 997}" for i in range(50_000)]
    records = [[(w, 1) for w in words[i : i + 500]] + [(w, 2) for w in words[i : i + 3]] for i in range(0, len(words), 500)]
    results = [run_map(records, use_c=c, buffer_bytes=60_000, tmp=str(tmp_path)) for c in (True, False)]
    assert results[0] == results[1]
    _, _, counters, _ = results[0]
    assert counters["map output records"] == 50_000 + 3 * 100
    assert counters.get("spilled records", 0) > 0


@pytest.mark.parametrize("use_c", [True, False])
def test_a_non_pair_is_named_the_same_way(use_c: bool, tmp_path) -> None:
    with pytest.raises(EncodeError, match="map 1/1: must yield \\(key, value\\) pairs"):
        run_map([[("a", 1), ("b", 1, 2)]], use_c=use_c, buffer_bytes=1 << 20, tmp=str(tmp_path))
    with pytest.raises(EncodeError, match="map 1/1: must yield \\(key, value\\) pairs"):
        run_map([[("a", 1), 7]], use_c=use_c, buffer_bytes=1 << 20, tmp=str(tmp_path))


@pytest.mark.parametrize("use_c", [True, False])
def test_a_mapper_error_passes_through_with_exact_counts(use_c: bool, tmp_path) -> None:
    def pairs() -> Iterator[tuple[str, int]]:
        yield "a", 1
        yield "b", [1]
        raise KeyError("boom")

    with helpers(use_c):
        counters: dict[str, int] = {}
        out = mapside.MapOutput(partitions=1, label="m", buffer_bytes=1 << 20, tmpdir=str(tmp_path), combiner=summing, counters=counters)
        with pytest.raises(KeyError, match="boom"):
            out.map_records([(None, None)], lambda _k, _v: pairs())
    assert counters["map output records"] == 2
    assert dict(out.ones.items()) == {"a": 1} and out.groups == {"b": [[1]]} and out.pending == 1


def test_the_c_loop_does_not_leak() -> None:
    assert C_LOOP is not None
    words = [f"word{i}" for i in range(2000)]

    def once() -> None:
        ones = _c.OnesTable()
        groups: dict[str, list[Any]] = {}
        taken = [0, 0]
        stream = iter([(w, 1) for w in words] * 20 + [(w, [w]) for w in words] + [(w, 300) for w in words])
        while (item := C_LOOP(ones, groups, stream, 4096, taken)) is not None:
            assert item is Ellipsis
        assert taken == [len(words) * 22, len(words) * 2]
        assert dict(ones.items())["word7"] == 20 and groups["word7"] == [["word7"], 300]

    once()  # warm caches and free lists
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(5):
            once()
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    # A missed decref of one tuple a pair would keep > 5 MB here.
    assert after - before < 50_000


def test_the_c_loop_checks_its_arguments() -> None:
    assert C_LOOP is not None
    table = _c.OnesTable
    with pytest.raises(TypeError):
        C_LOOP({}, {}, iter([]), 10, [0, 0])  # ones must be a OnesTable
    with pytest.raises(TypeError, match="iterator"):
        C_LOOP(table(), {}, [("a", 1)], 10, [0, 0])
    with pytest.raises(ValueError, match="two ints"):
        C_LOOP(table(), {}, iter([]), 10, [0])
    with pytest.raises(TypeError, match="lists"):
        C_LOOP(table(), {"a": (1,)}, iter([("a", 2)]), 10, [0, 0])
    with pytest.raises(TypeError, match="exact str"):
        table().add(type("S", (str,), {})("a"))


def test_crc32_is_zlibs() -> None:
    rng = random.Random(7)
    for n in [0, 1, 7, 64, 1000]:
        data = rng.randbytes(n)
        assert _c.crc32(data) == zlib.crc32(data)


@pytest.mark.parametrize("use_c", [True, False])
def test_combiner_output_errors_are_named(use_c: bool, tmp_path) -> None:
    def bad_value(key: Any, values: Iterator[Any]) -> Iterator[Any]:
        yield key, object()

    def not_a_pair(key: Any, values: Iterator[Any]) -> Iterator[Any]:
        yield key

    with pytest.raises(EncodeError, match="map 1/1: cannot encode object"):
        run_map([[("a", 1), ("a", 1)]], use_c=use_c, buffer_bytes=1 << 20, tmp=str(tmp_path), combiner=bad_value)
    with pytest.raises(EncodeError, match="map 1/1: the combiner must yield \\(key, value\\) pairs"):
        run_map([[("a", 1), ("a", 1)]], use_c=use_c, buffer_bytes=1 << 20, tmp=str(tmp_path), combiner=not_a_pair)


@pytest.mark.parametrize("use_c", [True, False])
@pytest.mark.parametrize("buffer_bytes", [1 << 20, 1])  # combined at the end; combined in place, over and over
@pytest.mark.parametrize("key", ["a", "b", 7])  # only 1s; other values; a key that is not a str
def test_a_combiner_that_raises_is_named_with_its_key(use_c: bool, buffer_bytes: int, key: Any, tmp_path) -> None:
    def picky(k: Any, values: Iterator[Any]) -> Iterator[Any]:
        if k == key:
            raise ValueError("boom")
        yield k, sum(1 for _ in values)

    # 7,000 pairs: past the first memory check (CHECK_EVERY)
    pairs = [("a", 1), ("a", 1), ("b", 2), ("b", [1]), (7, 1), (7, "x"), ("c", 1)]
    with pytest.raises(UserCodeError, match=f"^map 1/1: combiner raised ValueError: boom \\(input key {key!r}\\)$"):
        run_map([pairs * 1000], use_c=use_c, buffer_bytes=buffer_bytes, tmp=str(tmp_path), combiner=picky)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.binary(max_size=300), st.binary(max_size=3000)), max_size=200), st.integers(0, 3))
def test_packed_blocks_are_the_same_bytes(records: list[tuple[bytes, bytes]], split: int) -> None:
    outs = []
    for use_c in (True, False):
        with helpers(use_c):
            f = io.BytesIO()
            w = runfile.RunWriter(f)
            w.write(b"first", b"record")  # a partial block before the list
            w.write_all(records[: len(records) * split // 3])
            w.write_all(records[len(records) * split // 3 :])
            seg = w.end_segment()
            back = list(runfile.iter_records(io.BytesIO(f.getvalue()).read, "f", "t", seg[2]))
            outs.append((f.getvalue(), seg, back))
    assert outs[0] == outs[1]
    assert outs[0][2] == [(b"first", b"record"), *records]


def test_a_record_that_overruns_its_block_is_refused() -> None:
    unpack = _c.unpack_records
    good = b"\x00\x00\x00\x01\x00\x00\x00\x02kvv"
    assert unpack(good, 1) == [(b"k", b"vv")]
    for n in range(len(good)):
        with pytest.raises(ValueError, match="overruns"):
            unpack(good[:n], 1)


def test_tasks_run_with_task_gc_thresholds_and_restore_them() -> None:
    from mrargo.runtime import context

    before = gc.get_threshold()
    seen = context.task_gc(gc.get_threshold)()
    assert seen == context.TASK_GC_THRESHOLDS != before
    assert gc.get_threshold() == before
    with pytest.raises(ZeroDivisionError):
        context.task_gc(lambda: 1 / 0)()
    assert gc.get_threshold() == before


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(["", "a", "ab", "x" * 16, "x" * 17, "y" * 40, "é", "éé", "\u4e2d", "\U0001f600", "\ud800"]), st.text(max_size=20)), max_size=3000))
def test_the_ones_table_counts_like_a_dict(words: list[str]) -> None:
    table = _c.OnesTable()
    for w in words:
        table.add(w)
    table.add("extra", 5)
    expected = collections.Counter(words)
    expected["extra"] += 5
    assert sorted(table.items()) == sorted(expected.items())
    assert len(table) == len(expected)
    table.clear()
    assert len(table) == 0 and table.items() == []
    table.add("again")
    assert table.items() == [("again", 1)]


def test_the_ones_table_grows_past_many_keys() -> None:
    table = _c.OnesTable()
    ones, groups, taken = table, {}, [0, 0]
    stream = iter([(f"k{i % 300_000}", 1) for i in range(600_000)])
    while (item := C_LOOP(ones, groups, stream, 100_000, taken)) is not None:
        assert item is Ellipsis
    counts = dict(table.items())
    assert len(counts) == 300_000 and set(counts.values()) == {2}


def test_both_loops_see_the_size_of_big_values(tmp_path) -> None:
    # 20,000 values of ~200 bytes are ~5 MB waiting: with a 1 MB budget
    # both loops must notice (the same sample, at the same checks) and
    # combine in place at the same points.
    def joined(key: Any, values: Iterator[Any]) -> Iterator[tuple[Any, Any]]:
        yield key, "|".join(sorted(map(str, values)))[:300]

    records = [[(f"k{i % 50}", "x" * 200 + str(i)) for i in range(j, j + 1000)] for j in range(0, 20_000, 1000)]
    results = [run_map(records, use_c=c, buffer_bytes=1 << 20, tmp=str(tmp_path), combiner=joined) for c in (True, False)]
    assert results[0] == results[1]
    counters = results[0][2]
    assert counters["combine input records"] > 20_000  # combined in place, then again at the end


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.binary(max_size=6), st.binary(max_size=3)), max_size=300))
def test_records_sort_as_python_sorts_them(records: list[tuple[bytes, bytes]]) -> None:
    mine = list(records)
    _c.sort_records(mine)
    assert mine == sorted(records)


def test_sort_records_refuses_anything_but_byte_pairs() -> None:
    sort = _c.sort_records
    for bad in ([(b"a", "b")], [(b"a",)], [[b"a", b"b"]], ((b"a", b"b"),)):
        with pytest.raises(TypeError):
            sort(bad)


# -- the reduce side: merge_runs, decode_value, dumps_text ----------------------

MERGE_RUNS = _c.merge_runs
records_ = st.tuples(st.sampled_from([b"", b"\x05a", b"\x05ab", b"\x05b", b"\x04\x00"]) | st.binary(max_size=4), st.binary(max_size=3))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(records_, max_size=30), max_size=20))
def test_merged_runs_are_the_sorted_concatenation(runs: list[list[tuple[bytes, bytes]]]) -> None:
    runs = [sorted(run) for run in runs]
    expected = sorted(r for run in runs for r in run)
    merged = MERGE_RUNS(runs)
    assert merged == expected
    assert all(a is b for a, b in zip(sorted(merged, key=id), sorted(expected, key=id)))  # the same objects
    assert runfile._merge_runs(runs) == expected


def test_merge_runs_refuses_anything_but_runs_of_byte_pairs() -> None:
    with pytest.raises(TypeError, match="list of lists"):
        MERGE_RUNS([(b"a", b"b")])
    with pytest.raises(TypeError, match="list of lists"):
        MERGE_RUNS(((b"a", b"b"),))
    for bad in [[[(b"a", b"1"), ("b", b"2")]], [[(b"a", b"1")], [(b"b", "2")]], [[(b"a",)]], [[[b"a", b"b"]]]]:
        with pytest.raises(TypeError, match="byte"):
            MERGE_RUNS(bad)
    assert MERGE_RUNS([]) == [] and MERGE_RUNS([[], []]) == []


def test_merge_runs_does_not_leak() -> None:
    runs = [[(b"\x05k%05d" % i, b"%d" % r) for i in range(0, 3000, r + 1)] for r in range(8)]
    MERGE_RUNS(runs)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(5):
            assert len(MERGE_RUNS(runs)) == sum(map(len, runs))
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert after - before < 50_000


def typed(x: Any) -> Any:
    """x with every scalar tagged by its type, so 1, 1.0 and True differ."""
    if isinstance(x, list):
        return ["list", [typed(v) for v in x]]
    if isinstance(x, dict):
        return ["dict", [[k, typed(v)] for k, v in x.items()]]
    return [type(x).__name__, x]


plain = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=6)
json_texts = st.text(max_size=6) | plain | st.sampled_from(['a"b', "a\\b", "\x7f", "\t", "é", "\ud800"])
json_scalar = st.one_of(st.none(), st.booleans(), st.integers(-(10**20), 10**20), st.integers(-99, 99), st.floats(allow_nan=False, allow_infinity=False), json_texts)
json_value = st.recursive(json_scalar, lambda c: st.lists(c, max_size=5) | st.dictionaries(plain, c, max_size=3), max_leaves=10)


@settings(max_examples=500, deadline=None)
@given(json_value | st.lists(plain | st.integers(-(10**19), 10**19), max_size=6))
def test_c_value_decoding_is_the_python_decoding(x: Any) -> None:
    b = codec.encode_value(x)
    assert typed(codec.decode_value(b)) == typed(codec._decode_value(b)) == typed(json.loads(b))


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=12) | st.sampled_from([b"-", b"007", b"-0", b"[007]", b"[-0]", b"[1,]", b"[,1]", b'["a",]', b'["a" ]', b"[ 1]", b"1 ", b'"', b'""', b"[]", b"[[]]", b'["\\u0041"]', b"12345678901234567890"]))
def test_c_value_decoding_agrees_on_any_bytes(b: bytes) -> None:
    def outcome(decode: Any) -> Any:
        try:
            return typed(decode(b))
        except Exception as e:  # the same error, or none, from both
            return type(e).__name__
    assert outcome(codec.decode_value) == outcome(codec._decode_value)


@settings(max_examples=500, deadline=None)
@given(json_value | st.lists(plain | json_texts, max_size=6))
def test_c_output_text_is_the_python_text(x: Any) -> None:
    assert codec.dumps_text(x) == codec._dumps_text(x)


def test_the_c_codec_helpers_are_used_unless_pure_python_is_asked_for() -> None:
    if speedups.PURE:
        assert codec.decode_value is codec._decode_value and codec.dumps_text is codec._dumps_text
        return
    assert isinstance(codec.decode_value, functools.partial) and codec.decode_value.args == (codec._decode_value,)
    assert isinstance(codec.dumps_text, functools.partial) and codec.dumps_text.args == (codec._dumps_text,)
    with pytest.raises(CodecError, match="cannot encode"):
        codec.dumps_text([object()])
