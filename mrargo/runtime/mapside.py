"""The map side: partition, combine, sort and spill in bounded memory.

Pairs a mapper yields are encoded, partitioned with a stable hash (crc32 of
the encoded key, never ``hash()``), and buffered.  With a combiner, pairs
wait per key first (map-side aggregation): (str, 1) pairs are only
counted, other values gather in per-key lists, and everything waiting is
combined in place when the estimate passes the budget.  When the buffer is
still over half its budget it is sorted and spilled to a local run file; at
the end the spills are merged into one sorted segment per partition.  The
per-pair loop and the final encoding run in C when mrargo.runtime._speedups
was built (see speedups.py), with Python twins that give the same bytes."""

from __future__ import annotations

import contextlib
import os
import reprlib
import resource
import sys
import tempfile
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from itertools import chain, repeat, starmap
from typing import Any, BinaryIO

from mrargo.errors import EncodeError, MrargoError, PlanError
from mrargo.runtime import codec
from mrargo.runtime.context import user_error
from mrargo.runtime.runfile import Record, RunWriter, iter_record_blocks, merge_blocks
from mrargo.runtime.speedups import speedup

group_pairs: Any = speedup("group_pairs")
GroupTable: Any = speedup("GroupTable")
bucket_pairs: Any = speedup("bucket_pairs")
combine_counts: Any = speedup("combine_counts")
iter_values_c: Any = speedup("iter_values")
Records: Any = speedup("Records")

Combiner = Callable[[Any, Iterator[Any]], Iterable[tuple[Any, Any]]]
Mapper = Callable[[Any, Any], Iterable[tuple[Any, Any]]]
Partitioner = Callable[[Any, int], int]

# Rough bytes per buffered item, Python object overhead included.
_RECORD_OVERHEAD = 120
_GROUP_OVERHEAD = 200
_VALUE_OVERHEAD = 48
# How often (in pairs) a map task with a combiner checks its memory budget.
CHECK_EVERY = 4096
# Combined pairs are encoded this many at a time, so each chunk's objects
# are freed while still in the cache.
_CHUNK = 4096

# The resident memory past which a map task with a combiner writes out
# what waits once it fills half its buffer, not all of it.  The estimate
# counts only what waits; the process also holds what the mapper is
# using, and what its passing objects left to the allocator: an index
# mapper's list of every word of a 6 MB file is 70 MB, freed but kept
# among the arenas that its words (now keys) still use.  A process
# should stay under 256 MiB (README, "Performance"): the file-based index
# on 100 MB took 256 with 64 MB splits and 253-269 with 100, and 238-247
# with this guard (bench/results/2026-11-28c-memory.md).  Its default 50 MB
# splits peak at 214-219 and did not spill; a target of 208 made them
# spill, for +5% CPU.
RESIDENT_TARGET = 216 << 20

_STR_TAG = b"\x05"
# What a Repeat object costs beside its value's share (the C type's size).
_REPEAT_BYTES = 32


class PyRepeat:
    """The Python twin of _speedups.Repeat: one value that came ``n`` times in a row for a key.

    A line-based index yields (word, file name) for every word of every
    line, so a key's waiting values are one name thousands of times over,
    each a new str: kept one slot each, a 25 MB task held 3.95M of them, as
    repeats 0.43M.  A repeat keeps the first of equal consecutive values and
    a count.
    The combiner still sees every value, in order (``iter_values``), equal to
    the ones yielded and of the same exact type.  Only exact str and int
    values repeat: two equal ones cannot be told apart by a combiner (short
    of ``is``), unlike 1 and 1.0, or two lists.
    """

    __slots__ = ("value", "n")

    def __init__(self, value: Any, n: int) -> None:
        if type(value) is not str and type(value) is not int:
            raise TypeError("Repeat: the value must be an exact str or int")
        if n < 1:
            raise ValueError("Repeat: n must be at least 1")
        self.value = value
        self.n = n


Repeat: Any = speedup("Repeat") or PyRepeat


def append_value(values: list[Any], value: Any) -> bool:
    """Append ``value`` to a key's waiting values, as a repeat where it equals the last; True if a slot was added.

    The twin of the C loop's own append (group_pairs), step for step.
    """
    t = type(value)
    if values and (t is str or t is int):
        last = values[-1]
        if type(last) is Repeat:
            if type(last.value) is t and last.value == value:
                last.n += 1
                return False
        elif type(last) is t and last == value:
            values[-1] = Repeat(last, 2)
            return False
    values.append(value)
    return True


def iter_values(values: list[Any]) -> tuple[int, Iterator[Any]]:
    """How many values a key's waiting list stands for, and an iterator over them, each repeat written out.

    One value at a time: a repeat of millions never becomes a list of millions.
    """
    if iter_values_c is not None:
        return iter_values_c(values)  # type: ignore[no-any-return]
    if not any(type(v) is Repeat for v in values):
        return len(values), iter(values)
    n = sum(v.n if type(v) is Repeat else 1 for v in values)
    return n, chain.from_iterable(repeat(v.value, v.n) if type(v) is Repeat else (v,) for v in values)


def partition_of(key: Any, n: int) -> int:
    """The reducer of ``key`` among ``n`` when the job has no ``partition``: crc32 of its encoding, never hash().

    The loops below inline this (and bucket_pairs does it in C) for speed.
    """
    return zlib.crc32(codec.encode_key(key)) % n


def _passthrough(_: Any, pairs: Iterable[tuple[Any, Any]]) -> Iterable[tuple[Any, Any]]:
    return pairs


class NotAPair(TypeError):
    """User code yielded something that is not a (key, value) pair."""


def as_pair(item: Any) -> tuple[Any, Any]:
    """A yielded item that is not a tuple, as a pair: a list of two is one; a str or bytes never is.

    ``yield "go"`` would otherwise unpack into the key "g" and the value "o".
    """
    if not isinstance(item, (str, bytes, bytearray)):
        try:
            k, v = item
            return k, v
        except (TypeError, ValueError):
            pass
    raise NotAPair(f"must yield (key, value) pairs, got {type(item).__name__} {reprlib.repr(item)}")


@contextlib.contextmanager
def encoding_errors(label: str) -> Iterator[None]:
    """Name the task in encoding errors, and in a non-pair yielded by user code.

    A TypeError or ValueError raised by the caller's own ``k, v = pair``
    unpacking (its frame is the last in the traceback) means user code
    yielded something that is not a pair; one raised deeper is the user's.
    """
    try:
        yield
    except codec.CodecError as e:
        raise EncodeError(f"{label}: {e}") from None
    except NotAPair as e:
        raise EncodeError(f"{label}: {e}") from None
    except (TypeError, ValueError) as e:
        tb = e.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next  # the frame that raised
        if tb is not None and tb.tb_frame.f_code.co_name in _PAIR_LOOPS:
            raise EncodeError(f"{label}: must yield (key, value) pairs: {e}") from None
        raise


# The loops whose own tuple unpacking encoding_errors recognises.
_PAIR_LOOPS = frozenset({"_group_records", "_group_records_c", "_group_one", "_encode_records", "add_from", "_write_pairs"})


class MapOutput:
    """Buffers a map task's pairs and writes sorted partitions."""

    def __init__(
        self,
        *,
        partitions: int,
        label: str,
        buffer_bytes: int,
        tmpdir: str,
        partitioner: Partitioner | None = None,
        combiner: Combiner | None = None,
        sort_values: bool = False,
        counters: dict[str, int],
    ) -> None:
        self.R = partitions
        self.label = label
        self.limit = buffer_bytes
        self.tmpdir = tmpdir
        self.partitioner = partitioner
        self.combiner = combiner
        self.encode_value = codec.encode_key if sort_values else codec.encode_value
        self.counters = counters
        # A partition's encoded records: packed in C (63 bytes a record of
        # a 200k-key finish, where a list's tuple and two bytes took 145),
        # else a list.
        self.bufs: list[Any] = [Records() if Records is not None else [] for _ in range(partitions)]
        # Waiting pairs.  A (str, 1) pair is counted, ones[k] += 1, so a
        # count's millions of (word, 1) cost one table update each and no
        # memory.  Any other value waits in its key's list.  The combiner
        # sees a key's 1s first, then its other values in the order they
        # came.  With the C loop, ones is a GroupTable, which keeps a str
        # key's count and its list in one slot (a cache miss a pair, where
        # a dict and its lists cost four), and groups only the other keys;
        # in Python, ones is a dict of counts and groups holds every list.
        # groups is keyed by str keys as themselves, others by their
        # encoding (1, 1.0 and True are equal in a dict, but distinct keys).
        self.ones: Any = GroupTable() if group_pairs is not None else {}
        self.groups: defaultdict[Any, list[Any]] = defaultdict(list)
        self.keys: dict[bytes, Any] = {}
        self.pending = 0  # slots of values waiting in groups, for the memory estimate
        # Pairs taken since the last memory check, kept across calls: with
        # --max-bad-records every record's pairs come in a call of their
        # own, and a count that restarted at each call never reached a check.
        self.unchecked = 0
        # The last exact str or int value grouped: an equal value is
        # replaced by it (group_pairs does the same), so the file name an
        # index yields with every word of every line is one object.
        self.recent: list[Any] = [None]
        self.value_bytes = _VALUE_OVERHEAD
        self.size = 0
        self.spills: list[tuple[str, list[tuple[int, int, int]]]] = []

    # -- adding pairs ---------------------------------------------------------

    def add_from(self, pairs: Iterable[tuple[Any, Any]]) -> None:
        """Consume pairs (from a hook, or a combiner's other keys)."""
        self.map_records(((None, pairs),), _passthrough)

    def map_records(self, records: Iterable[tuple[Any, Any]], mapper: Mapper) -> None:
        """Run the mapper over records and take its pairs: the hot loop of every map task.

        The loops are written out in full, without a generator in between,
        because every layer costs time on each of millions of pairs.
        """
        with encoding_errors(self.label):
            if self.combiner is not None:
                if type(self.ones) is not dict:
                    self._group_records_c(records, mapper)
                else:
                    self._group_records(records, mapper)
            else:
                self._encode_records(records, mapper)

    def _encode_records(self, records: Iterable[tuple[Any, Any]], mapper: Mapper) -> None:
        encode_key, encode_value = codec.encode_key, self.encode_value
        bufs, R, crc, partitioner = self.bufs, self.R, zlib.crc32, self.partitioner
        size, limit, n = self.size, self.limit, 0
        try:
            for key, value in records:
                for pair in mapper(key, value):
                    if type(pair) is not tuple:
                        pair = as_pair(pair)
                    k, v = pair
                    kb = _STR_TAG + k.encode("utf-8", "surrogatepass") if type(k) is str else encode_key(k)
                    vb = encode_value(v)
                    if partitioner is not None:
                        p = self._partition(k)
                    elif R == 1:
                        p = 0
                    else:
                        p = crc(kb) % R
                    bufs[p].append((kb, vb))
                    n += 1
                    size += len(kb) + len(vb) + _RECORD_OVERHEAD
                    if size > limit:
                        self.size = size
                        self.spill()
                        size = 0
        finally:
            self.size = size
            self.counters["map output records"] = self.counters.get("map output records", 0) + n

    def _group_records(self, records: Iterable[tuple[Any, Any]], mapper: Mapper) -> None:
        # The Python twin of _speedups.group_pairs, pair for pair; used when
        # the C module is not built.  Per pair: type checks, one dict update,
        # and a comparison for the memory check every CHECK_EVERY pairs.
        # The check must sit in the inner loop: one record (a whole file)
        # may yield millions.
        ones, n, appended = self.ones, 0, 0
        get = ones.get
        check_at, added = CHECK_EVERY - self.unchecked, 0
        try:
            for key, value in records:
                for pair in mapper(key, value):
                    if type(pair) is not tuple:
                        pair = as_pair(pair)
                    k, v = pair
                    if type(k) is str and type(v) is int and v == 1:
                        ones[k] = get(k, 0) + 1
                    else:
                        appended += self._group_one(pair)  # a slot added, or a repeat grown
                    n += 1
                    if n >= check_at:
                        self.pending += appended - added
                        added, check_at = appended, n + CHECK_EVERY
                        del pair, k, v  # hold no value: _check_groups counts its references
                        self._check_groups()
        finally:
            self.pending += appended - added
            self.unchecked = CHECK_EVERY - (check_at - n)
            self.counters["map output records"] = self.counters.get("map output records", 0) + n

    def _group_records_c(self, records: Iterable[tuple[Any, Any]], mapper: Mapper) -> None:
        # _group_records with its loop in C: group_pairs takes every
        # (str, value) tuple and hands anything else back, one item at a
        # time, to _group_one.  Same tables, same checks, same errors.  The
        # budget is checked every CHECK_EVERY pairs however they were
        # taken: group_pairs is asked for no more than the pairs left to
        # the next check, so a stream of non-str keys (each handed back)
        # cannot restart the count.
        pairs = chain.from_iterable(starmap(mapper, records))
        taken = [0, 0]  # pairs, of which appended to groups
        added = 0  # appended pairs already in self.pending
        check_at = CHECK_EVERY - self.unchecked
        try:
            while True:
                item = group_pairs(self.ones, pairs, check_at - taken[0], taken, self.recent)
                if item is None:
                    return
                if item is not Ellipsis:
                    taken[1] += self._group_one(item)
                    taken[0] += 1
                if taken[0] >= check_at:
                    self.pending += taken[1] - added
                    added = taken[1]
                    check_at = taken[0] + CHECK_EVERY
                    item = None  # hold no value: _check_groups counts its references
                    self._check_groups()
        finally:
            self.pending += taken[1] - added
            self.unchecked = CHECK_EVERY - (check_at - taken[0])
            self.counters["map output records"] = self.counters.get("map output records", 0) + taken[0]

    def _group_one(self, pair: Any) -> bool:
        """Take one pair into the tables (the slow path of both loops); True if it added a slot to groups."""
        if type(pair) is not tuple:
            pair = as_pair(pair)
        k, v = pair
        t = type(v)
        if type(k) is str and t is int and v == 1:
            if type(self.ones) is dict:
                self.ones[k] = self.ones.get(k, 0) + 1
            else:
                self.ones.add(k)
            return False
        if t is str or t is int:
            recent = self.recent[0]
            if type(recent) is t and recent == v:
                v = recent
            else:
                self.recent[0] = v
        if type(k) is str:
            if type(self.ones) is dict:
                return append_value(self.groups[k], v)
            return bool(self.ones.append(k, v))
        hk = codec.encode_key(k)
        self.keys[hk] = k
        return append_value(self.groups[hk], v)

    def waiting(self) -> dict[Any, list[Any]]:
        """Each key's waiting values other than 1s (str keys as themselves, others by encoding), as lists (for tests)."""
        if type(self.ones) is dict:
            return dict(self.groups)
        return {**self.ones.waiting(), **self.groups}

    def _groups_size(self) -> int:
        return (len(self.ones) + len(self.groups)) * _GROUP_OVERHEAD + self.pending * self.value_bytes

    def _check_groups(self) -> None:
        """Over budget: combine everything waiting in place; spill if that is not enough."""
        # A waiting value costs a list slot, plus its share of its object:
        # a mapper often yields one object many times (an index yields its
        # line's file name with each of the line's words), and the small
        # ints and singletons are shared by everyone.  The object's
        # references, less this frame's two, are the slots that share it
        # (the loops that call this hold no value of their own then);
        # counting it whole in each made the line index combine 5 times
        # where 2 would do.  The sample is the newest key's last value: the
        # same in both loops.  A repeat's value is shared by the repeat.
        # The C table's sample is the value it appended last (a key's
        # tail: a run of it is one slot, as a repeat).
        last = None if type(self.ones) is dict else self.ones.last()
        if last is not None or self.groups:
            sample = last[0] if last is not None else next(reversed(self.groups.values()))[-1]
            extra = 8
            if type(sample) is Repeat:
                sample, extra = sample.value, 8 + _REPEAT_BYTES
            # self.recent holds the value just grouped: not a slot; nor
            # does last, the tuple that brought it here.
            sharers = max(1, sys.getrefcount(sample) - 2 - (last is not None) - (sample is self.recent[0]))
            self.value_bytes = extra + sys.getsizeof(sample) // sharers
            del last, sample
        size = self._groups_size()
        if size <= self.limit:
            # Within budget, but the process has come near the ceiling:
            # spill rather than let what waits reach the whole buffer.  A
            # spill empties the tables, so the next waits for another half.
            if size > self.limit // 2 and resident_bytes() > RESIDENT_TARGET:
                self.spill()
            return
        # The tables are emptied before the first chunk comes back, so the
        # combined pairs wait again in fresh ones.
        group_one = self._group_one
        for chunk in self._combined():
            for pair in chunk:
                group_one(pair)
        self.pending = sum(map(len, self.groups.values())) + (0 if type(self.ones) is dict else self.ones.slots())
        # Spill when combining left more than half the budget: the keys
        # themselves fill it, and combining again 4096 pairs later would
        # gain nothing.
        if self._groups_size() > self.limit // 2:
            self.spill()

    def _partition(self, k: Any) -> int:
        assert self.partitioner is not None
        p = self.partitioner(k, self.R)
        if type(p) is not int or not 0 <= p < self.R:
            raise PlanError(f"{self.label}: partition({k!r}, {self.R}) returned {p!r}; it must be an int in range({self.R})")
        return p

    # -- spilling and finishing ---------------------------------------------

    def _take_waiting(self) -> tuple[list[tuple[str, int]], list[tuple[str, Any]], list[tuple[Any, list[Any]]], dict[bytes, Any]]:
        """Empty the tables.

        Returns (key, count) for keys with only 1s; (key, value) for str
        keys with one value, not 1, which pass the combiner by (the C
        table's; Python's leave them in the next list); (key, values) for
        every other key (str keys, or encodings), a key's 1s first in its
        list; and the keys of those encodings.
        """
        # Fresh group tables, not cleared ones: the grouping loops look up
        # self.groups on every call, and a swap costs nothing where a copy
        # cost a pass over every key.  ones is emptied in place: the loops
        # hold it.
        groups, self.groups = self.groups, defaultdict(list)
        keys, self.keys = self.keys, {}
        self.pending = 0
        if type(self.ones) is not dict:
            counted, single, grouped = self.ones.take()  # str keys; groups holds only the others
            if groups:
                grouped += groups.items()
            return counted, single, grouped, keys
        ones = list(self.ones.items())
        self.ones.clear()
        if not groups:
            return ones, [], [], keys  # a count's usual case
        counted = []
        for k, n in ones:
            extra = groups.get(k)
            if extra is None:
                counted.append((k, n))
            else:
                groups[k] = [Repeat(1, n) if n > 1 else 1, *extra]  # its 1s first, one slot
        return counted, [], list(groups.items()), keys

    def _combined(self) -> Iterator[list[tuple[Any, Any]]]:
        """Run the combiner over every waiting key, emptying the tables; yield its pairs in chunks.

        A key with one value passes as is.  Key by key, each key's values
        are freed as soon as its combiner has run, while they are still in
        the cache, and no list of every combined pair is ever built.
        """
        single, alone, grouped, keys = self._take_waiting()
        combiner = self.combiner
        assert combiner is not None
        chunk: list[tuple[Any, Any]] = []
        add = chunk.append
        cin = cout = 0
        key: Any = None
        try:
            if combine_counts is not None:
                at = [0, 0, 0]  # next index, combine input, combine output
                try:
                    while at[0] < len(single):
                        combine_counts(single, combiner, repeat, chunk, _CHUNK, at)
                        if len(chunk) >= _CHUNK:
                            yield chunk
                            chunk = []
                            add = chunk.append
                finally:
                    key = single[at[0]][0] if at[0] < len(single) else key  # the combiner's key, if it raised
                    cin, cout = cin + at[1], cout + at[2]
            else:
                for key, n in single:
                    if n == 1:
                        add((key, 1))
                        continue
                    cin += n
                    before = len(chunk)
                    chunk += combiner(key, repeat(1, n))
                    cout += len(chunk) - before
                    if len(chunk) >= _CHUNK:
                        yield chunk
                        chunk = []
                        add = chunk.append
            del single
            for i in range(0, len(alone), _CHUNK):  # one value each: no combiner call
                chunk += alone[i : i + _CHUNK]
                if len(chunk) >= _CHUNK:
                    yield chunk
                    chunk = []
                    add = chunk.append
            del alone
            pop = grouped.pop
            for _ in range(len(grouped)):
                key, values = pop()
                if type(key) is not str:
                    key = keys[key]
                n, it = iter_values(values)
                if n == 1:
                    add((key, next(it)))
                    continue
                cin += n
                before = len(chunk)
                chunk += combiner(key, it)
                cout += len(chunk) - before
                if len(chunk) >= _CHUNK:
                    yield chunk
                    chunk = []
                    add = chunk.append
        except MrargoError:
            raise
        except Exception as e:  # everything in the try but the bookkeeping is the user's combiner
            raise user_error(self.label, "combiner", e, f"key {key!r}") from e
        finally:
            self.counters["combine input records"] = self.counters.get("combine input records", 0) + cin
            self.counters["combine output records"] = self.counters.get("combine output records", 0) + cout
        if chunk:
            yield chunk

    def _drain_groups(self) -> None:
        """Run the combiner over everything waiting, into the partition buffers."""
        for chunk in self._combined():
            self._bucket(chunk)

    def _bucket(self, pairs: list[tuple[Any, Any]]) -> None:
        """Encode and partition pairs straight into the buffers.

        No budget check: a spill or the final write follows at once.
        """
        bufs, R = self.bufs, self.R
        if self.partitioner is not None:
            for kb, vb, k in self._encoded(pairs, 0, len(pairs)):
                bufs[self._partition(k)].append((kb, vb))
            return
        crc = zlib.crc32
        i, n = 0, len(pairs)
        while i < n:
            if bucket_pairs is not None:
                # C for exact (str, value) tuples; it stops at anything else.
                try:
                    i = bucket_pairs(pairs, i, bufs, self.encode_value, self.encode_value is codec.encode_value)
                except codec.CodecError as e:
                    raise EncodeError(f"{self.label}: {e}") from None
                if i >= n:
                    return
                end = i + 1
            else:
                end = n
            for kb, vb, _ in self._encoded(pairs, i, end):
                bufs[crc(kb) % R].append((kb, vb))
            i = end

    def _encoded(self, pairs: list[tuple[Any, Any]], start: int, end: int) -> list[tuple[bytes, bytes, Any]]:
        ek, ev = codec.encode_key, self.encode_value
        try:
            return [
                (_STR_TAG + k.encode("utf-8", "surrogatepass") if type(k) is str else ek(k), ev(v), k)
                for k, v in (p if type(p) is tuple else as_pair(p) for p in pairs[start:end])
            ]
        except codec.CodecError as e:
            raise EncodeError(f"{self.label}: {e}") from None
        except NotAPair as e:
            raise EncodeError(f"{self.label}: the combiner {e}") from None
        except (TypeError, ValueError) as e:
            raise EncodeError(f"{self.label}: the combiner must yield (key, value) pairs: {e}") from None

    def spill(self) -> None:
        """Sort the buffer and write it to a local run file, one segment per partition."""
        if self.ones or self.groups:
            self._drain_groups()
        self.pending = 0
        if not any(self.bufs):
            self.size = 0
            return
        fd, path = tempfile.mkstemp(prefix="spill-", suffix=".run", dir=self.tmpdir)
        segments = []
        with os.fdopen(fd, "wb") as f:
            w = RunWriter(f)
            for buf in self.bufs:
                _sort_records(buf)
                w.write_all(buf)
                segments.append(w.end_segment())
                self.counters["spilled records"] = self.counters.get("spilled records", 0) + len(buf)
                buf.clear()
        self.spills.append((path, segments))
        self.size = 0

    def finish(self, out: BinaryIO, extra: Iterable[tuple[Any, Any]] = ()) -> list[tuple[int, int, int]]:
        """Write every partition, sorted, to ``out``; return its segments."""
        if self.ones or self.groups:
            self._drain_groups()
        saved, self.combiner = self.combiner, None
        try:
            self.add_from(extra)  # combiner_final's pairs are not combined again
        finally:
            self.combiner = saved
        w = RunWriter(out)
        if not self.spills:
            # The buffers are not cleared: a task process leaves them to
            # its exit (see tasks.run_map's ``keep``); freeing a count's
            # records one by one was 5% of a 20.6 MB word count's samples.
            segments = []
            for buf in self.bufs:
                _sort_records(buf)
                w.write_all(buf)
                segments.append(w.end_segment())
            return segments
        self.spill()
        segments = []
        try:
            with contextlib.ExitStack() as stack:
                files = [stack.enter_context(open(path, "rb")) for path, _ in self.spills]
                for p in range(self.R):
                    sources = [_segment_blocks(f, path, segs[p]) for f, (path, segs) in zip(files, self.spills, strict=True)]
                    w.write_all(merge_blocks(sources))
                    segments.append(w.end_segment())
        finally:
            for path, _ in self.spills:
                os.unlink(path)
            self.spills.clear()
        return segments


def resident_bytes() -> int:
    """The most memory this process has held resident, in bytes: getrusage's peak, which costs under a microsecond.

    The peak, not the present: memory the allocator keeps is not given
    back anyway, and reading /proc/self/statm took 6 us a check.
    """
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB elsewhere


def _sort_records(buf: Any) -> None:
    """Sort records by key bytes, then value bytes: packed Records in C (a radix sort on the key's first 8 bytes), or a list of tuples."""
    buf.sort()


def _segment_blocks(f: BinaryIO, path: str, seg: tuple[int, int, int]) -> Iterator[list[Record]]:
    start, end, count = seg
    pos = [start]

    def read(n: int) -> bytes:
        n = min(n, end - pos[0])
        f.seek(pos[0])
        data = f.read(n)
        pos[0] += len(data)
        return data

    return iter_record_blocks(read, path, "a spill of this task", count)
