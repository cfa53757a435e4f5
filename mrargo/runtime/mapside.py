"""The map side: partition, combine, sort and spill in bounded memory.

Pairs a mapper yields are encoded, partitioned with a stable hash (crc32 of
the encoded key, never ``hash()``), and buffered.  With a combiner, values
gather per key in a dict and are combined early, whenever a key has many
(map-side aggregation).  When the buffer passes its budget it is sorted and
spilled to a local run file; at the end the spills are merged into one
sorted segment per partition.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any, BinaryIO

from mrargo.errors import EncodeError, PlanError
from mrargo.runtime import codec
from mrargo.runtime.runfile import Record, RunWriter, iter_records, merge

Combiner = Callable[[Any, Iterator[Any]], Iterable[tuple[Any, Any]]]
Partitioner = Callable[[Any, int], int]

# Rough bytes per buffered item, Python object overhead included.
_RECORD_OVERHEAD = 120
_GROUP_OVERHEAD = 200
_VALUE_OVERHEAD = 48
# Combine a key's values early once this many are waiting.
EAGER_COMBINE = 64

_STR_TAG = b"\x05"


def pair_error(label: str, e: Exception) -> EncodeError | None:
    """A TypeError/ValueError raised by our own tuple unpacking, not user code."""
    tb = e.__traceback__
    if tb is not None and tb.tb_next is None:
        return EncodeError(f"{label}: must yield (key, value) pairs: {e}")
    return None


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
        self.bufs: list[list[Record]] = [[] for _ in range(partitions)]
        self.groups: dict[Any, list[Any]] = {}
        self.size = 0
        self.spills: list[tuple[str, list[tuple[int, int, int]]]] = []

    # -- adding pairs ---------------------------------------------------------

    def add_from(self, pairs: Iterable[tuple[Any, Any]]) -> None:
        """Consume pairs; the hot loop of every map task."""
        if self.combiner is not None:
            self._group_from(pairs)
        else:
            self._encode_from(pairs)

    def _encode_from(self, pairs: Iterable[tuple[Any, Any]]) -> None:
        encode_key, encode_value = codec.encode_key, self.encode_value
        bufs, R, crc, partitioner = self.bufs, self.R, zlib.crc32, self.partitioner
        size, limit, n = self.size, self.limit, 0
        try:
            for k, v in pairs:
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
        except codec.CodecError as e:
            raise EncodeError(f"{self.label}: {e}") from None
        except (TypeError, ValueError) as e:
            err = pair_error(self.label, e)
            if err is None:
                raise
            raise err from None
        finally:
            self.size = size
            self.counters["map output records"] = self.counters.get("map output records", 0) + n

    def _group_from(self, pairs: Iterable[tuple[Any, Any]]) -> None:
        groups, size, limit, n = self.groups, self.size, self.limit, 0
        encode_key = codec.encode_key
        try:
            for k, v in pairs:
                hk = k if type(k) is str else encode_key(k)
                lst = groups.get(hk)
                if lst is None:
                    groups[hk] = [k, v]
                    size += _GROUP_OVERHEAD + (len(k) if type(k) is str else len(hk))
                else:
                    lst.append(v)
                    size += _VALUE_OVERHEAD
                    if len(lst) > EAGER_COMBINE:
                        self.size = size
                        self._combine_group(hk, lst)
                        size = self.size
                n += 1
                if size > limit:
                    self.size = size
                    self.spill()
                    size = 0
        except codec.CodecError as e:
            raise EncodeError(f"{self.label}: {e}") from None
        except (TypeError, ValueError) as e:
            err = pair_error(self.label, e)
            if err is None:
                raise
            raise err from None
        finally:
            self.size = size
            self.counters["map output records"] = self.counters.get("map output records", 0) + n

    def _combine_group(self, hk: Any, lst: list[Any]) -> None:
        """Combine one key's waiting values now; other keys it yields are re-added."""
        assert self.combiner is not None
        key = lst[0]
        values = lst[1:]
        self.counters["combine input records"] = self.counters.get("combine input records", 0) + len(values)
        kept: list[Any] = [key]
        others: list[tuple[Any, Any]] = []
        out = 0
        for k2, v2 in self.combiner(key, iter(values)):
            out += 1
            same = k2 == key if type(k2) is str and type(key) is str else codec.encode_key(k2) == codec.encode_key(key)
            if same:
                kept.append(v2)
            else:
                others.append((k2, v2))
        self.counters["combine output records"] = self.counters.get("combine output records", 0) + out
        self.size -= _VALUE_OVERHEAD * (len(values) - (len(kept) - 1))
        if len(kept) > 1:
            self.groups[hk] = kept
        else:
            del self.groups[hk]
        if others:
            saved, self.combiner = self.combiner, None
            try:
                self._encode_from(others)
            finally:
                self.combiner = saved

    def _partition(self, k: Any) -> int:
        assert self.partitioner is not None
        p = self.partitioner(k, self.R)
        if type(p) is not int or not 0 <= p < self.R:
            raise PlanError(f"{self.label}: partition({k!r}, {self.R}) returned {p!r}; it must be an int in range({self.R})")
        return p

    # -- spilling and finishing ---------------------------------------------

    def _drain_groups(self) -> None:
        """Run the combiner over every waiting group into the partition buffers."""
        # Drain in place: _group_from holds a reference to this very dict,
        # and pairs it adds after a spill must land where the next spill looks.
        waiting = list(self.groups.values())
        self.groups.clear()
        combiner, self.combiner = self.combiner, None
        try:
            pairs: list[tuple[Any, Any]] = []
            cin = cout = 0
            for lst in waiting:
                key = lst[0]
                if len(lst) == 2 or combiner is None:
                    pairs.extend((key, v) for v in lst[1:])
                    continue
                cin += len(lst) - 1
                for kv in combiner(key, iter(lst[1:])):
                    pairs.append(kv)
                    cout += 1
            self.counters["combine input records"] = self.counters.get("combine input records", 0) + cin
            self.counters["combine output records"] = self.counters.get("combine output records", 0) + cout
            # These pairs were counted as map output when they were grouped.
            before = self.counters.get("map output records", 0)
            self._encode_from(pairs)
            self.counters["map output records"] = before
        finally:
            self.combiner = combiner

    def spill(self) -> None:
        """Sort the buffer and write it to a local run file, one segment per partition."""
        if self.groups:
            self._drain_groups()
        if not any(self.bufs):
            self.size = 0
            return
        fd, path = tempfile.mkstemp(prefix="spill-", suffix=".run", dir=self.tmpdir)
        segments = []
        with os.fdopen(fd, "wb") as f:
            w = RunWriter(f)
            for buf in self.bufs:
                buf.sort()
                w.write_all(buf)
                segments.append(w.end_segment())
                self.counters["spilled records"] = self.counters.get("spilled records", 0) + len(buf)
                buf.clear()
        self.spills.append((path, segments))
        self.size = 0

    def finish(self, out: BinaryIO, extra: Iterable[tuple[Any, Any]] = ()) -> list[tuple[int, int, int]]:
        """Write every partition, sorted, to ``out``; return its segments."""
        if self.groups:
            self._drain_groups()
        saved, self.combiner = self.combiner, None
        try:
            self._encode_from(extra)  # combiner_final's pairs are not combined again
        finally:
            self.combiner = saved
        w = RunWriter(out)
        if not self.spills:
            segments = []
            for buf in self.bufs:
                buf.sort()
                w.write_all(buf)
                segments.append(w.end_segment())
                buf.clear()
            return segments
        self.spill()
        segments = []
        try:
            with contextlib.ExitStack() as stack:
                files = [stack.enter_context(open(path, "rb")) for path, _ in self.spills]
                for p in range(self.R):
                    sources = [_segment_iter(f, path, segs[p]) for f, (path, segs) in zip(files, self.spills, strict=True)]
                    w.write_all(merge(sources))
                    segments.append(w.end_segment())
        finally:
            for path, _ in self.spills:
                os.unlink(path)
            self.spills.clear()
        return segments


def _segment_iter(f: BinaryIO, path: str, seg: tuple[int, int, int]) -> Iterator[Record]:
    start, end, count = seg
    pos = [start]

    def read(n: int) -> bytes:
        n = min(n, end - pos[0])
        f.seek(pos[0])
        data = f.read(n)
        pos[0] += len(data)
        return data

    return iter_records(read, path, "a spill of this task", count)
