"""Writing a task's pairs: output text (``json TAB json`` lines) for the last step, run files before it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, BinaryIO

from mrargo.errors import EncodeError
from mrargo.runtime import codec
from mrargo.runtime.mapside import as_pair, encoding_errors
from mrargo.runtime.runfile import RunWriter
from mrargo.runtime.speedups import speedup

MB = 1 << 20

text_lines: Any = speedup("text_lines")


def bump(c: dict[str, int], name: str, n: int = 1) -> None:
    c[name] = c.get(name, 0) + n


class OutputWriter:
    """Writes pairs as output text (``fmt`` "json" or "raw") or, with no ``fmt``, as one segment of a run file."""

    def __init__(self, f: BinaryIO, *, fmt: str | None, counters: dict[str, int], label: str, name: str = "map output records") -> None:
        self.f = f
        self.label = label
        self.raw = fmt == "raw"
        text = fmt is not None
        self.counters = counters
        self.name = name
        self.records = 0
        self.bytes = 0
        self.buf: list[str] = []
        self.buf_len = 0
        self.run = None if text else RunWriter(f)

    def map_records(self, records: Iterable[tuple[Any, Any]], mapper: Any) -> None:
        for k, v in records:
            self.add_from(mapper(k, v))

    def add_from(self, pairs: Iterable[tuple[Any, Any]]) -> None:
        with encoding_errors(self.label):
            self._write_pairs(pairs)

    def _write_pairs(self, pairs: Iterable[tuple[Any, Any]]) -> None:
        text_line = codec.text_line
        n = 0
        try:
            if self.run is not None:
                write, ek, ev = self.run.write, codec.encode_key, codec.encode_value
                for pair in pairs:
                    if type(pair) is not tuple:
                        pair = as_pair(pair)
                    k, v = pair
                    write(ek(k), ev(v))
                    n += 1
                return
            buf, raw = self.buf, self.raw
            if text_lines is not None and not raw:
                # In C, exact 2-tuples a megabyte of text at a time; any
                # other item comes back to be taken (or refused) here.
                counts = [0, 0]  # lines, characters
                try:
                    it = iter(pairs)
                    while (item := text_lines(it, codec.python_dumps_text, buf, MB + 1 - self.buf_len, counts)) is not None:
                        if item is not Ellipsis:
                            k, v = item if type(item) is tuple else as_pair(item)
                            line = text_line(k, v)
                            buf.append(line)
                            counts[0] += 1
                            counts[1] += len(line)
                        n, self.buf_len = n + counts[0], self.buf_len + counts[1]
                        counts[0] = counts[1] = 0
                        if self.buf_len > MB:
                            self._flush()
                finally:
                    n, self.buf_len = n + counts[0], self.buf_len + counts[1]
                return
            for pair in pairs:
                if type(pair) is not tuple:
                    pair = as_pair(pair)
                k, v = pair
                if raw:
                    if type(v) is not str:
                        raise EncodeError(f"{self.label}: OUTPUT_FORMAT 'raw' writes str values as lines, got {type(v).__name__} {v!r:.60}")
                    line = v + "\n"
                else:
                    line = text_line(k, v)
                buf.append(line)
                self.buf_len += len(line)
                n += 1
                if self.buf_len > MB:
                    self._flush()
        finally:
            self.records += n
            bump(self.counters, self.name, n)

    def _flush(self) -> None:
        data = codec.output_bytes("".join(self.buf))
        self.f.write(data)
        self.bytes += len(data)
        self.buf.clear()
        self.buf_len = 0

    def close(self) -> None:
        if self.run is not None:
            _, end, _ = self.run.end_segment()
            self.bytes = end
        else:
            self._flush()
