"""The map side's C loop (mrargo.runtime._speedups) against its Python twin.

Both must give the same bytes, counters and errors for any stream of pairs,
through in-place combining and spills; the C module must not leak.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import gc
import importlib
import io
import itertools
import json
import os
import random
import re
import struct
import tracemalloc
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import EXAMPLES, output_bytes
from hypothesis import given, settings
from hypothesis import strategies as st

from mrargo.errors import CorruptDataError, EncodeError, UserCodeError
from mrargo.plan import Options, bind, build_plan
from mrargo.runtime import codec, commit, layout, mapside, output, reduceside, runfile, speedups, tasks
from mrargo.runtime.output import OutputWriter

# The C module itself, whether or not this run uses it: CI runs the suite
# twice, with the C helpers (the default) and with MRARGO_PURE_PYTHON=1,
# and the tests of the C functions run both times.
_c = importlib.import_module("mrargo.runtime._speedups")
# Every place a C helper is used: (the C helper, what the module holds
# without it).  None makes the module call its Python twin; the codec's
# reduce-side helpers are called directly, so they are the twins themselves.
C: dict[tuple[Any, str], tuple[Any, Any]] = {
    (mapside, "group_pairs"): (_c.group_pairs, None),
    (mapside, "bucket_pairs"): (_c.bucket_pairs, None),
    (mapside, "combine_counts"): (_c.combine_counts, None),
    (runfile, "unpack_records"): (_c.unpack_records, None),
    (runfile, "merge_runs"): (_c.merge_runs, None),
    (mapside, "GroupTable"): (_c.GroupTable, None),
    (mapside, "Records"): (_c.Records, None),
    (runfile, "Records"): (_c.Records, None),
    (mapside, "Repeat"): (_c.Repeat, mapside.PyRepeat),
    (mapside, "iter_values_c"): (_c.iter_values, None),
    (codec, "decode_value"): (functools.partial(_c.decode_value, codec._decode_value), codec._decode_value),
    (codec, "dumps_text"): (functools.partial(_c.dumps_text, codec._dumps_text), codec._dumps_text),
    (codec, "text_line"): (functools.partial(_c.text_line, codec._dumps_text), codec._text_line),
    (reduceside, "KeyGroups"): (_c.KeyGroups, None),
    (output, "text_lines"): (_c.text_lines, None),
}
C_LOOP = _c.group_pairs


def same_helper(a: Any, b: Any) -> bool:
    if isinstance(a, functools.partial) and isinstance(b, functools.partial):
        return a.func is b.func and a.args == b.args
    return a is b


def test_the_c_helpers_are_built_and_used_unless_pure_python_is_asked_for() -> None:
    # .ci/run installs a compiler; a build without one falls back to Python.
    assert speedups.built(), "mrargo.runtime._speedups was not built: is a C compiler installed?"
    for (module, name), (c_helper, twin) in C.items():
        assert same_helper(getattr(module, name), twin if speedups.PURE else c_helper), name


@contextlib.contextmanager
def helpers(use_c: bool) -> Iterator[None]:
    """The C helpers, or their Python twins, everywhere; then what the run had before."""
    saved = {key: getattr(*key) for key in C}
    try:
        for (module, name), (c_helper, twin) in C.items():
            setattr(module, name, c_helper if use_c else twin)
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
@pytest.mark.parametrize("item", ["go", b"go", bytearray(b"go")], ids=["str", "bytes", "bytearray"])
def test_a_str_or_bytes_is_never_taken_for_a_pair(use_c: bool, item: Any, tmp_path) -> None:
    # Two characters unpack into two names, so `yield "go"` would be the
    # key "g" with the value "o".  Refused in every loop that takes pairs:
    # the mapper's without and with a combiner, the combiner's output, and
    # a reducer's output (text for the last step, a run file before it).
    got = f"got {type(item).__name__} {item!r}"
    for combiner in (None, summing):
        with pytest.raises(EncodeError, match=f"^map 1/1: must yield \\(key, value\\) pairs, {re.escape(got)}$"):
            run_map([[("a", 1), item]], use_c=use_c, buffer_bytes=1 << 20, tmp=str(tmp_path), combiner=combiner)

    def yields_item(key: Any, values: Iterator[Any]) -> Iterator[Any]:
        yield item

    with pytest.raises(EncodeError, match=f"^map 1/1: the combiner must yield \\(key, value\\) pairs, {re.escape(got)}$"):
        run_map([[("a", 1), ("a", 1)]], use_c=use_c, buffer_bytes=1 << 20, tmp=str(tmp_path), combiner=yields_item)
    for fmt in ("json", "raw", None):
        with helpers(use_c):
            out = OutputWriter(io.BytesIO(), fmt=fmt, counters={}, label="reduce 1/1")
            with pytest.raises(EncodeError, match=f"^reduce 1/1: must yield \\(key, value\\) pairs, {re.escape(got)}$"):
                out.add_from([("a", "x"), item])


def passing(key: Any, values: Iterator[Any]) -> Iterator[tuple[Any, Any]]:
    for v in values:
        yield key, v


@pytest.mark.parametrize("use_c", [True, False])
@pytest.mark.parametrize("combiner", [None, passing], ids=["no combiner", "combiner"])
def test_nan_and_infinity_are_refused_as_not_json_in_both_loops(use_c: bool, combiner: Any, tmp_path) -> None:
    for pairs in ([("a", 1), ("a", float("nan"))], [("a", [1, float("inf")])], [(float("-inf"), 1)]):
        with pytest.raises(EncodeError, match="^map 1/1: cannot encode float .*: NaN and infinity are not JSON numbers"):
            run_map([pairs], use_c=use_c, buffer_bytes=1 << 20, tmp=str(tmp_path), combiner=combiner)


@pytest.mark.parametrize("job", ["wordcount", "indexer"])
def test_a_whole_job_writes_the_same_bytes_with_either_helpers(job: str, tmp_path) -> None:
    # Every task in this process, so that the swap reaches the reduce side
    # too: merge_runs over three maps' runs, decode_value of ints (word
    # count) and dumps_text of lists of strs (the index).
    inputs = tmp_path / "in"
    inputs.mkdir()
    for f in range(3):
        (inputs / f"f{f}.txt").write_text("".join(f"w{(f * 31 + i * 7) % 500} w{i % 97} x\n" for i in range(3000)))
    outputs = []
    for use_c in (True, False):
        plan, job_dir = build_plan(os.path.join(EXAMPLES, f"{job}.py"), options=Options(split_mb=1))
        run = bind([str(inputs)], str(tmp_path / f"out-{use_c}"), str(tmp_path / f"work-{use_c}"))
        with helpers(use_c):
            for i in range(tasks.run_split(plan, run, 0)):
                tasks.run_map(plan, run, 0, i, layout.new_attempt(), str(tmp_path))
            for i in range(tasks.run_shuffle(plan, run, 0)):
                reduceside.run_reduce(plan, run, 0, i, layout.new_attempt(), str(tmp_path))
            commit.run_commit(plan, run, layout.new_attempt(), {})
        outputs.append(output_bytes(run.output))
    assert outputs[0] and outputs[0] == outputs[1]


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
    assert dict(out.ones.items()) == {"a": 1} and out.waiting() == {"b": [[1]]} and out.pending == 1


def test_the_c_loop_does_not_leak() -> None:
    assert C_LOOP is not None
    words = [f"word{i}" for i in range(2000)]

    def once() -> None:
        ones = _c.GroupTable()
        taken = [0, 0]
        stream = iter([(w, 1) for w in words] * 20 + [(w, [w]) for w in words] + [(w, 300) for w in words] * 3 + [("solo", "v")])
        while (item := C_LOOP(ones, stream, 4096, taken, [None])) is not None:
            assert item is Ellipsis
        assert taken == [len(words) * 24 + 1, len(words) * 2 + 1]
        def shown(values: list[Any]) -> list[Any]:
            return [("Repeat", v.value, v.n) if type(v) is _c.Repeat else v for v in values]

        assert dict(ones.items())["word7"] == 20 and shown(ones.waiting()["word7"]) == [["word7"], ("Repeat", 300, 3)]
        counted, single, grouped = ones.take()
        assert counted == [] and single == [("solo", "v")] and len(grouped) == len(words)
        assert shown(dict(grouped)["word7"]) == [("Repeat", 1, 20), ["word7"], ("Repeat", 300, 3)]
        assert len(ones) == 0 and ones.last() is None

    # A missed decref of one tuple a pair would keep > 5 MB here.
    assert kept_after(once) < 50_000


def kept_after(once: Any, times: int = 5) -> int:
    """Bytes still held after calling once() ``times`` more times, once warmed up (caches, free lists)."""
    once()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(times):
            once()
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before  # type: ignore[no-any-return]
    finally:
        tracemalloc.stop()


def test_the_group_tables_sample_outlives_an_equal_value_appended() -> None:
    # An equal str appended after another is counted in the first one's run;
    # the sample the memory estimate reads must be the one the table holds.
    table = _c.GroupTable()
    table.append("k", "".join(["x", "y"]))
    b = "".join(["x", "y"])
    table.append("k", b)
    del b
    junk = ["".join(["q", str(i)]) for i in range(10_000)]  # reuse what was freed
    assert table.last() == ("xy",) and junk
    [shown] = table.waiting()["k"]
    assert table.slots() == 1 and (shown.value, shown.n) == ("xy", 2)
    (_, _, grouped) = table.take()
    [(key, [run])] = grouped
    assert key == "k" and type(run) is _c.Repeat and (run.value, run.n) == ("xy", 2)


def test_the_c_loop_checks_its_arguments() -> None:
    assert C_LOOP is not None
    table = _c.GroupTable
    with pytest.raises(TypeError):
        C_LOOP({}, iter([]), 10, [0, 0], [None])  # the table must be a GroupTable
    with pytest.raises(TypeError, match="iterator"):
        C_LOOP(table(), [("a", 1)], 10, [0, 0], [None])
    with pytest.raises(ValueError, match="two ints"):
        C_LOOP(table(), iter([]), 10, [0], [None])
    with pytest.raises(TypeError, match="exact str"):
        table().add(type("S", (str,), {})("a"))
    with pytest.raises(TypeError, match="exact str"):
        table().append(type("S", (str,), {})("a"), 2)


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
    def packed(part: list[tuple[bytes, bytes]]) -> Any:
        r = _c.Records()
        for rec in part:
            r.append(rec)
        return r

    outs = []
    for use_c in (True, False):
        with helpers(use_c):
            f = io.BytesIO()
            w = runfile.RunWriter(f)
            w.write(b"first", b"record")  # a partial block before the list
            for part in (records[: len(records) * split // 3], records[len(records) * split // 3 :]):
                w.write_all(packed(part) if use_c else part)
            seg = w.end_segment()
            back = list(runfile.iter_records(io.BytesIO(f.getvalue()).read, "f", "t", seg[2]))
            outs.append((f.getvalue(), seg, back))
    assert outs[0] == outs[1]
    assert outs[0][2] == [(b"first", b"record"), *records]


@pytest.mark.parametrize("unpack", [_c.unpack_records, runfile._unpack_records], ids=["C", "Python"])
def test_a_record_that_overruns_its_block_is_refused(unpack: Any) -> None:
    good = b"\x00\x00\x00\x01\x00\x00\x00\x02kvv"
    assert unpack(good, 1) == [(b"k", b"vv")]
    for n in range(len(good)):
        with pytest.raises(ValueError, match="^a record overruns its block$"):
            unpack(good[:n], 1)
    with pytest.raises(ValueError, match="^the block holds more bytes than its records$"):
        unpack(good + b"x", 1)


@pytest.mark.parametrize("use_c", [True, False])
def test_a_block_whose_records_do_not_fill_it_is_corrupt_data(use_c: bool) -> None:
    # The checksum covers the payload but not the header's record count: a
    # count too high overruns the block, one too low leaves records over.
    # Either is corrupt data naming the file and its writer, never a short
    # or silently cut list (the Python twin once returned one).
    f = io.BytesIO()
    w = runfile.RunWriter(f)
    w.write_all([(b"k", b"vv"), (b"k2", b"v")])
    w.end_segment()
    data = f.getvalue()
    count_at = 12  # MAGIC, payload length, crc32, then the count
    for count, why in ((3, "a record overruns its block"), (1, "the block holds more bytes than its records")):
        bad = data[:count_at] + count.to_bytes(4, "big") + data[count_at + 4 :]
        with helpers(use_c), pytest.raises(CorruptDataError) as e:
            list(runfile.iter_records(io.BytesIO(bad).read, "f.run", "map-1-00000"))
        assert str(e.value) == f"f.run: {why} (written by map-1-00000); the file is corrupt" and e.value.producer == "map-1-00000"


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
@given(st.lists(st.one_of(st.sampled_from(["", "a", "a\x00", "\x00", "ab", "abcdefgh", "abcdefgh\x00", "x" * 16, "x" * 17, "y" * 40, "é", "éé", "\u4e2d", "\U0001f600", "\ud800"]), st.text(max_size=20)), max_size=3000))
def test_the_ones_table_counts_like_a_dict(words: list[str]) -> None:
    table = _c.GroupTable()
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
    table = _c.GroupTable()
    taken = [0, 0]
    stream = iter([(f"k{i % 300_000}", 1 if i < 300_000 else f"v{i % 7}") for i in range(600_000)])
    while (item := C_LOOP(table, stream, 100_000, taken, [None])) is not None:
        assert item is Ellipsis
    counts, waiting = dict(table.items()), table.waiting()
    assert len(counts) == len(waiting) == len(table) == 300_000 and set(counts.values()) == {1}
    assert waiting["k12345"] == [f"v{312_345 % 7}"] and table.slots() == 300_000


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


# Keys around the 8 bytes Records.sort compares first: shorter ones (padded
# with zeros, so b"a" and b"a\x00" tie there), and longer ones that share them.
_sort_keys = st.binary(max_size=6) | st.builds(bytes.__add__, st.sampled_from([b"\x05abcdefg", b"\x05abcdefgh", b"\x05abcdef\x00"]), st.binary(max_size=4))


def sorted_packed(records: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    packed = _c.Records()
    for rec in records:
        packed.append(rec)
    packed.sort()
    return packed.records()  # type: ignore[no-any-return]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(_sort_keys, st.binary(max_size=3)), max_size=300))
def test_records_sort_as_python_sorts_them(records: list[tuple[bytes, bytes]]) -> None:
    assert sorted_packed(records) == sorted(records)


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

    def once() -> None:
        assert len(MERGE_RUNS(runs)) == sum(map(len, runs))

    assert kept_after(once) < 50_000


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
    assert codec.text_line(x, [x]) == codec._text_line(x, [x]) == f"{codec._dumps_text(x)}\t{codec._dumps_text([x])}\n"


def grouped_both_ways(records: list[tuple[bytes, bytes]], values_are_keys: bool, take: int) -> list[Any]:
    """What the reducer sees, through KeyGroups and through the Python twin: the first ``take`` values of each key."""
    seen = []
    for use_c in (True, False):
        with helpers(use_c):
            got: list[Any] = []
            last = None
            for key, values in reduceside._key_groups(iter(records), values_are_keys):
                got.append((typed(key), [typed(v) for v in itertools.islice(values, take)]))
                if last is not None:
                    got.append(list(last))  # an earlier key's values end when the next key starts
                last = values
            seen.append(got)
    assert seen[0] == seen[1]
    return seen[0]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(json_value, json_value), max_size=40), st.booleans(), st.integers(0, 3))
def test_key_groups_give_what_groupby_gives(pairs: list[tuple[Any, Any]], values_are_keys: bool, take: int) -> None:
    encode = codec.encode_key if values_are_keys else codec.encode_value
    records = sorted((codec.encode_key(k), encode(v)) for k, v in pairs)
    got = grouped_both_ways(records, values_are_keys, take)
    assert [g for g in got if type(g) is tuple] == [(typed(codec.decode_key(kb)), [typed(codec.decode_key(vb) if values_are_keys else codec._decode_value(vb)) for _, vb in rs][:take]) for kb, rs in itertools.groupby(records, key=lambda r: r[0])]
    assert all(g == [] for g in got if type(g) is list)


def test_key_groups_refuse_anything_but_records_and_pass_decode_errors_on() -> None:
    with pytest.raises(TypeError, match="records must be"):
        list(_c.KeyGroups(iter([(b"\x05a", "1")]), codec.decode_key, codec.python_decode_value, False))
    with pytest.raises(codec.CodecError):
        list(_c.KeyGroups(iter([(b"\x09", b"1")]), codec.decode_key, codec.python_decode_value, False))
    with pytest.raises(UnicodeDecodeError):
        list(_c.KeyGroups(iter([(b"\x05\xff", b"1")]), codec.decode_key, codec.python_decode_value, False))
    with pytest.raises(ValueError):  # a value that is not JSON
        [list(vs) for _, vs in _c.KeyGroups(iter([(b"\x05a", b"{")]), codec.decode_key, codec.python_decode_value, False)]




def listing(key: Any, values: Iterator[Any]) -> Iterator[tuple[Any, Any]]:
    """A combiner that shows every value it was given, in order, with its type."""
    yield key, [f"{type(v).__name__}:{v!r}" for v in values]


@pytest.mark.parametrize("use_c", [True, False])
def test_repeated_values_wait_as_repeats_and_reach_the_combiner_whole(use_c: bool, tmp_path) -> None:
    # An index's (word, name) pairs: the name is a new str on every line.
    # They wait as one slot a run of equal values, yet the combiner sees
    # each value, in order, of its own type: 1 is never 1.0 or True, and
    # lists (which a combiner may tell apart) never repeat.
    lines = [[("w", "".join(["f", "1"])), ("v", 2)] for _ in range(500)]
    lines += [[("w", "f2"), ("w", 1.0), ("w", 1.0), ("w", True), ("w", [1]), ("w", [1]), ("w", "f2"), ("v", 2), ("v", 2)]]
    lines += [[(7, "x"), (7, "".join(["x"]))]]
    with helpers(use_c):
        counters: dict[str, int] = {}
        out = mapside.MapOutput(partitions=1, label="m", buffer_bytes=1 << 20, tmpdir=str(tmp_path), combiner=listing, counters=counters)
        out.map_records(((None, ps) for ps in lines), lambda _, ps: iter(ps))
        slots = {k: len(v) for k, v in out.waiting().items()}
        assert slots["w"] == 8 and slots["v"] == 1 and out.pending == 8 + 1 + 1  # f1 x 500 is one
        f = io.BytesIO()
        segments = out.finish(f)
    (a, b, n), = segments
    records = list(runfile.iter_records(io.BytesIO(f.getvalue()[a:b]).read, "seg", "map", n))
    got = {codec.decode_key(k): codec.decode_value(v) for k, v in records}
    assert got["w"] == ["str:'f1'"] * 500 + ["str:'f2'", "float:1.0", "float:1.0", "bool:True", "list:[1]", "list:[1]", "str:'f2'"]
    assert got["v"] == ["int:2"] * 502 and got[7] == ["str:'x'", "str:'x'"]
    assert counters["combine input records"] == 500 + 7 + 502 + 2


@pytest.mark.parametrize("use_c", [True, False])
def test_equal_values_become_one_object(use_c: bool, tmp_path) -> None:
    # The memory estimate then sees one name shared by every line's words
    # (not a name per line counted whole), so no combine runs during the map.
    def mapper(_: Any, line: str) -> Iterator[tuple[str, str]]:
        name = "/data/" + "part-00001.txt"[: len(line) + 20]  # a new str each line
        for word in set(line.split()):
            yield word, name

    lines = [" ".join(f"w{(i * 7 + j) % 3000}" for j in range(12)) for i in range(20_000)]
    with helpers(use_c):
        counters: dict[str, int] = {}
        out = mapside.MapOutput(partitions=1, label="m", buffer_bytes=4 << 20, tmpdir=str(tmp_path), combiner=listing, counters=counters)
        out.map_records(((None, line) for line in lines), mapper)
        names = {id(v.value if type(v) is mapside.Repeat else v) for vs in out.waiting().values() for v in vs}
        assert len(names) == 1 and out.pending == 3000
        assert "combine input records" not in counters  # nothing was combined during the map


@pytest.mark.parametrize("use_c", [True, False])
def test_a_long_repeat_reaches_the_combiner_one_value_at_a_time(use_c: bool, tmp_path) -> None:
    # A million equal values wait as one slot, and the combiner gets an
    # iterator over them, not a list of a million (nor [1] * n for 1s
    # that wait with other values).
    def counting(key: Any, values: Iterator[Any]) -> Iterator[tuple[Any, Any]]:
        total = 0
        for v in values:
            total += v if type(v) is int else 100
        yield key, total

    pairs = [("k", 2)] * 1_000_000 + [("k", "x")] + [("j", 1)] * 1000 + [("j", 3)]
    with helpers(use_c):
        counters: dict[str, int] = {}
        out = mapside.MapOutput(partitions=1, label="m", buffer_bytes=1 << 20, tmpdir=str(tmp_path), combiner=counting, counters=counters)
        out.map_records([(None, None)], lambda _k, _v: iter(pairs))
        assert out.pending == 3  # k: a repeat of 2 and "x"; j: 3
        f = io.BytesIO()
        tracemalloc.start()
        try:
            ((a, b, n),) = out.finish(f)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peak < 2_000_000  # a list of the million would be 8 MB
    got = dict(runfile.iter_records(io.BytesIO(f.getvalue()[a:b]).read, "seg", "map", n))
    assert got == {codec.encode_key("k"): b"2000100", codec.encode_key("j"): b"1003"}
    assert counters["combine input records"] == 1_000_001 + 1001


@pytest.mark.parametrize("use_c", [True, False])
def test_a_repeat_is_a_str_or_int_at_least_once(use_c: bool) -> None:
    with helpers(use_c):
        repeat_, iter_values = mapside.Repeat, mapside.iter_values
        with pytest.raises(TypeError, match="exact str or int"):
            repeat_(1.0, 2)
        with pytest.raises(ValueError, match="at least 1"):
            repeat_("a", 0)
        n, it = iter_values(["a", repeat_("b", 3), 7])
        assert n == 5 and list(it) == ["a", "b", "b", "b", 7]
        n, it = iter_values([repeat_("a", 1)])  # a repeat of one is still written out
        assert n == 1 and list(it) == ["a"]
        n, it = iter_values([])
        assert n == 0 and list(it) == []


@pytest.mark.parametrize("use_c", [True, False])
def test_the_budget_is_checked_when_pairs_come_a_few_at_a_time(use_c: bool, tmp_path) -> None:
    # With --max-bad-records each record's pairs come in a call of their
    # own (add_from); the count to the next check must carry over, or the
    # waiting values grow unchecked until the task's end.
    with helpers(use_c):
        counters: dict[str, int] = {}
        out = mapside.MapOutput(partitions=2, label="m", buffer_bytes=1 << 20, tmpdir=str(tmp_path), combiner=passing, counters=counters)
        peak = 0
        for r in range(20_000):
            out.add_from([(f"k{r}-{j}", f"value {r} {j} " * 4) for j in range(10)])
            assert out.unchecked < mapside.CHECK_EVERY
            peak = max(peak, out._groups_size())
        assert counters.get("spilled records", 0) > 0  # 200k values of ~60 bytes cannot wait in 1 MB
        # The estimate stays within the budget plus what one check interval
        # of 4,096 pairs adds (about 1.2 MB here); unchecked it reached 47 MB.
        assert peak < 3 << 20


def test_many_records_sort_as_python_sorts_them() -> None:
    # Keys that share their first 8 bytes in long runs, keys shorter than
    # 8, equal keys; a byte that every key shares (the radix skips it).
    rng = random.Random(7)
    stems = [b"\x05", b"\x05interna", b"\x05interpre", b"\x05a", b"\x05\x00\x00"]
    records = [(rng.choice(stems) + bytes(rng.choices(b"\x00ab\xff", k=rng.randrange(4))), bytes(rng.choices(b"xy", k=rng.randrange(3)))) for _ in range(20_000)]
    assert sorted_packed(records) == sorted(records)


# -- Records: a partition's records, packed --------------------------------------

_record_lists = st.lists(st.tuples(_sort_keys | st.binary(max_size=12), st.binary(max_size=5)), max_size=300)


@settings(max_examples=100, deadline=None)
@given(_record_lists, st.integers(1, 200))
def test_packed_records_sort_and_pack_as_a_list_does(records: list[tuple[bytes, bytes]], limit: int) -> None:
    packed = _c.Records()
    for rec in records:
        packed.append(rec)
    assert len(packed) == len(records) and packed.records() == records
    packed.sort()
    ordered = sorted(records)
    assert packed.records() == ordered
    i = 0
    while i < len(ordered):  # blocks cut at the record that brings them to limit bytes
        mine, end = packed.pack(i, limit)
        expected, j = b"", i
        while j < len(ordered) and len(expected) < limit:
            k, v = ordered[j]
            expected += struct.pack(">II", len(k), len(v)) + k + v
            j += 1
        assert (mine, end) == (expected, j)
        i = end
    packed.clear()
    assert len(packed) == 0 and packed.records() == [] and packed.nbytes == 0


def test_packed_records_refuse_anything_but_byte_pairs() -> None:
    packed = _c.Records()
    for bad in ((b"a", "b"), (b"a",), [b"a", b"b"], b"ab"):
        with pytest.raises(TypeError):
            packed.append(bad)
    assert len(packed) == 0


_bucket_values = st.integers() | st.text(max_size=4) | st.lists(st.text(alphabet="ab\"\n\x01é", max_size=3), max_size=3) | st.floats(allow_nan=False, allow_infinity=False) | st.none()


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=10), _bucket_values), max_size=60), st.integers(1, 5), st.booleans())
def test_pairs_bucket_into_packed_records_as_into_lists(pairs: list[tuple[str, Any]], R: int, json_values: bool) -> None:
    encode = codec.encode_value if json_values else codec.encode_key
    lists: list[list[tuple[bytes, bytes]]] = [[] for _ in range(R)]
    packed = [_c.Records() for _ in range(R)]
    assert _c.bucket_pairs(pairs, 0, lists, encode, json_values) == len(pairs)
    assert _c.bucket_pairs(pairs, 0, packed, encode, json_values) == len(pairs)
    assert [p.records() for p in packed] == lists
    # and as the Python twin encodes them
    assert sorted(r for p in packed for r in p.records()) == sorted((codec.encode_key(k), encode(v)) for k, v in pairs)


def test_bucket_pairs_refuses_mixed_buffers() -> None:
    with pytest.raises(TypeError, match="all lists or all Records"):
        _c.bucket_pairs([("a", 1)], 0, [[], _c.Records()], codec.encode_value, True)


def test_the_finish_holds_packed_records_in_little_memory(tmp_path) -> None:
    # 200k distinct keys, each combined to one record: as a list of tuples
    # of bytes they took about 170 bytes each; packed, under 80 with room
    # to grow.
    with helpers(True):
        out = mapside.MapOutput(partitions=4, label="t", buffer_bytes=1 << 30, tmpdir=str(tmp_path), combiner=lambda k, vs: [(k, list(vs))], counters={})
        out.map_records([(None, None)], lambda _k, _v: ((f"key{i:07d}", "v") for i in range(200_000)))
        gc.collect()
        tracemalloc.start()
        try:
            out._drain_groups()
            held = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
    assert sum(len(b) for b in out.bufs) == 200_000
    assert held < 200_000 * 80, f"{held / 200_000:.0f} bytes a record"


def test_key_groups_and_text_lines_do_not_leak() -> None:
    records = sorted((codec.encode_key(f"k{i % 3000}"), codec.encode_value(v)) for i, v in enumerate([1, "x", ["a", "b"], 2.5] * 5000))
    line = functools.partial(_c.text_line, codec._dumps_text)

    def once() -> None:
        fresh = [(bytes(bytearray(k)), bytes(bytearray(v))) for k, v in records]  # new objects, which a missed decref keeps
        for key, values in _c.KeyGroups(iter(fresh), codec.decode_key, codec.python_decode_value, False):
            for v in itertools.islice(values, 3):  # some keys' values only in part
                line(key, v)

    assert kept_after(once) < 50_000  # a missed decref a record would keep megabytes


def test_combine_counts_stops_at_its_limit_and_names_where_the_combiner_raised() -> None:
    def combiner(key: str, values: Iterator[int]) -> Iterator[tuple[str, int]]:
        if key == "z":
            raise ValueError("boom")
        yield key, sum(values)

    single = [("x", 1), ("y", 3), ("v", 4), ("z", 2), ("w", 5)]
    chunk: list[Any] = []
    at = [0, 0, 0]
    _c.combine_counts(single, combiner, itertools.repeat, chunk, 2, at)
    assert chunk == [("x", 1), ("y", 3)] and chunk[0] is single[0] and at == [2, 3, 1]
    with pytest.raises(ValueError, match="boom"):
        _c.combine_counts(single, combiner, itertools.repeat, chunk, 100, at)
    assert chunk == [("x", 1), ("y", 3), ("v", 4)] and at == [3, 9, 2]  # at[0]: the key it raised on
    with pytest.raises(TypeError, match="not iterable"):
        _c.combine_counts([("k", 2)], lambda k, vs: None, itertools.repeat, [], 10, [0, 0, 0])


def written_text(items: list[Any], use_c: bool) -> tuple[bytes, int, dict[str, int], str]:
    with helpers(use_c):
        f = io.BytesIO()
        counters: dict[str, int] = {}
        out = OutputWriter(f, fmt="json", counters=counters, label="reduce 1/1", name="reduce output records")
        error = ""
        try:
            out.add_from(iter(items))
            out.close()
        except EncodeError as e:
            error = str(e)
        return f.getvalue(), out.records, counters, error


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(json_value, json_value) | st.lists(json_value, min_size=2, max_size=2) | st.just(("a", "b", "c")), max_size=30))
def test_output_text_is_the_same_from_c_and_python(items: list[Any]) -> None:
    assert written_text(items, True) == written_text(items, False)


def test_output_text_crosses_its_megabyte_buffer_the_same_way() -> None:
    items = [(f"key{i}", ["x" * 50, i]) for i in range(60_000)]  # about 4 MB of text
    mine = written_text(items, True)
    assert mine == written_text(items, False) and mine[1] == 60_000 and mine[0].count(b"\n") == 60_000


def test_the_count_tables_hash_resists_crafted_collisions() -> None:
    # Words built to collide under an unkeyed multiply-xorshift (flip bit
    # 63 of one 8-byte word, and bits 63 and 34 of the next): 4,096 of
    # them shared one hash whatever the seed, and counting 65k took 15 s.
    rng = random.Random(1)
    base = bytes(rng.choice(b"abcdefghijklmnop") for _ in range(16 * 12))
    words = []
    for mask in range(1 << 12):
        b = bytearray(base)
        for i in range(12):
            if mask >> i & 1:
                b[16 * i + 7] ^= 0x80
                b[16 * i + 15] ^= 0x80
                b[16 * i + 12] ^= 0x04
        words.append(b.decode("latin-1"))
    hashes = {_c._key_hash(w) for w in words}
    assert len(hashes) == len(words)
    assert _c._key_hash("word") == _c._key_hash("".join(["wo", "rd"])) and _c._key_hash("a") != _c._key_hash("a\x00")


@pytest.mark.parametrize("use_c", [True, False])
def test_a_key_groups_values_end_with_their_group_even_if_its_key_comes_again(use_c: bool) -> None:
    # Not sorted (a merge never gives this), but groupby's rule holds:
    # an earlier group's values end when the next group starts.
    records = [(b"\x05a", b"1"), (b"\x05b", b"2"), (b"\x05a", b"3")]
    with helpers(use_c):
        groups = reduceside._key_groups(iter(records), False)
        key, first = next(groups)
        next(groups)
        assert next(groups)[0] == key == "a"
        assert list(first) == []
