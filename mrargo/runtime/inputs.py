"""Splits and record readers: inputs in, (key, value, position) records out.

A split is a list of pieces; a piece is a whole file or a byte range of an
uncompressed one.  Ranges follow fsspec's ``read_block`` rule, so a line
belongs to exactly one range whatever the boundaries.  Readers stream in
chunks, so memory does not grow with the file.
"""

from __future__ import annotations

import codecs
import itertools
import json
import operator
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from mrargo import store
from mrargo.errors import InputError, plan_flag_fix
from mrargo.runtime import codec
from mrargo.runtime.runfile import iter_records

MB = 1 << 20
CHUNK = MB  # bytes read per step inside a split


@dataclass(frozen=True)
class Piece:
    url: str
    start: int = 0
    end: int = -1  # -1: the whole file
    format: str = "lines"  # lines | files | jsonl | run
    records: int = -1  # for run files: the count the producer wrote
    producer: str = ""

    def to_json(self) -> list[Any]:
        return [self.url, self.start, self.end, self.format, self.records, self.producer]

    @staticmethod
    def from_json(v: list[Any]) -> Piece:
        return Piece(str(v[0]), int(v[1]), int(v[2]), str(v[3]), int(v[4]), str(v[5]))


# The largest split the auto rule makes.  A task finishes (combines,
# encodes, sorts, writes) every key it met, so fewer, larger tasks do less
# of that: 100 MB of word count in 2 tasks of 50 MB rather than 4 of 25
# took 5.42 -> 4.91 CPU s (2026-11-28).  It was 32 MB while a finished
# record cost a tuple and two bytes objects: the line index's 50 MB task
# peaked at 216 MiB, now 134 with packed records.  The file-based index
# keeps the most waiting: 220 MiB at 50 MB splits (177 at 25), within
# the 256 MiB a process may take; at 64 MB its waiting values reach the
# 100 MB sort buffer and it takes 260.
MAX_AUTO_SPLIT = 50 * MB


def split_bytes(total: int, split_mb: int, parallel: int, min_split_mb: int) -> int:
    """How many bytes a split: ``split_mb`` if given, else chosen from the input and the parallelism.

    The auto rule makes a multiple of ``parallel`` splits of equal size, at
    most MAX_AUTO_SPLIT and at least ``min_split_mb``: 20 MB on 2 workers is
    2 splits of 10 MB (not 1 of 20, which leaves a core idle), 120 MB is 4
    of 30 MB (not 50+50+20, whose last round runs on one core).
    """
    if split_mb:
        return split_mb * MB
    tasks = max(1, -(-total // MAX_AUTO_SPLIT))
    tasks = -(-tasks // parallel) * parallel
    return max(min_split_mb * MB, -(-total // tasks), 1)


# The reducers of a step whose job does not fix their number: at least
# MIN_AUTO_REDUCERS, and one more doubling for each REDUCE_BYTES of the
# step's input beyond that.  The figure is Hive's default for the same
# choice (hive.exec.reducers.bytes.per.reducer, 256 MB since Hive 0.14).
MIN_AUTO_REDUCERS = 4
REDUCE_BYTES = 256 * MB


def reducer_count(total: int, cap: int) -> int:
    """How many reducers a step gets when the job leaves it to mrargo: from its input's size alone.

    4 up to 1 GiB, 8 up to 2 GiB, 16 up to 4 GiB, ..., at most ``cap``.
    Not from the parallelism, as the splits are: the reducers decide the
    part files, and a run's output is the same bytes for any ``--workers``
    and on Argo.  Powers of two share out evenly over 2, 4, 8, ... cores
    or pods at once.
    """
    r = MIN_AUTO_REDUCERS
    while r * REDUCE_BYTES < total and r < cap:
        r *= 2
    return max(1, min(r, cap))


def plan_splits(files: list[store.FileInfo], input_format: str, split_bytes: int, max_splits: int = 0) -> list[list[Piece]]:
    """Cut inputs into splits of about ``split_bytes``, grouping small files; at most ``max_splits`` of them.

    Over the cap, the splits grow (in proportion, then step by step) until
    they fit; a file is never cut finer because of it.
    """
    splits = _cut(files, input_format, split_bytes)
    while max_splits and len(splits) > max_splits:
        split_bytes = max(split_bytes + 1, split_bytes * len(splits) // max_splits)
        splits = _cut(files, input_format, split_bytes)
    return splits


def _cut(files: list[store.FileInfo], input_format: str, split_bytes: int) -> list[list[Piece]]:
    splits: list[list[Piece]] = []
    group: list[Piece] = []
    group_bytes = 0

    def flush() -> None:
        nonlocal group, group_bytes
        if group:
            splits.append(group)
        group, group_bytes = [], 0

    for f in files:
        cuttable = input_format in ("lines", "jsonl") and f.compression is None
        if cuttable and f.size > split_bytes:
            flush()
            n = -(-f.size // split_bytes)
            step = -(-f.size // n)
            for start in range(0, f.size, step):
                splits.append([Piece(f.url, start, min(f.size, start + step), input_format)])
            continue
        # Compressed files cannot be cut; a whole file is one piece.  A file
        # joins the group when that leaves the group nearer the split size:
        # groups then come out even (two groups of 10 MB from 20 MB of small
        # files, not 10 + 10 - one file + one file), and a big file that
        # cannot be cut is not piled onto a nearly full group.
        if group and group_bytes + f.size // 2 > split_bytes:
            flush()
        group.append(Piece(f.url, 0, -1, input_format))
        group_bytes += max(f.size, 1)
    flush()
    return splits


class DecodePolicy:
    """How undecodable UTF-8 is handled; counts what it replaced or skipped."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.replaced = 0
        self.skipped = 0

    def _count(self, e: UnicodeError) -> tuple[str, int]:
        self.replaced += 1
        assert isinstance(e, UnicodeDecodeError)
        return "\ufffd", e.end

    def decode_text(self, data: bytes, url: str) -> str | None:
        """Decode a whole file; None when the policy skips it."""
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as e:
            if self.mode == "strict":
                raise invalid_utf8(url, e.start) from None
            if self.mode == "replace":
                codecs.register_error("mrargo-replace", self._count)
                return data.decode("utf-8", "mrargo-replace")
            self.skipped += 1
            return None

    def decode_lines(self, data: bytes, url: str, base: int) -> list[str]:
        """Decode a block of whole lines into lines without their newlines."""
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            if self.mode == "strict":
                at = (first_line_start(url, -base - 1) if base < 0 else base) + e.start
                raise invalid_utf8(url, at) from None
            if self.mode == "replace":
                codecs.register_error("mrargo-replace", self._count)
                text = data.decode("utf-8", "mrargo-replace")
            else:
                return self._skip_bad_lines(data)
        lines = text.split("\n")
        if lines[-1] == "":
            lines.pop()
        if "\r" in text:
            lines = [ln[:-1] if ln.endswith("\r") else ln for ln in lines]
        return lines

    def _skip_bad_lines(self, data: bytes) -> list[str]:
        out = []
        raw = data.split(b"\n")
        if raw[-1] == b"":
            raw.pop()
        for line in raw:
            try:
                s = line.decode("utf-8")
            except UnicodeDecodeError:
                self.skipped += 1
                continue
            out.append(s[:-1] if s.endswith("\r") else s)
        return out


def invalid_utf8(url: str, at: int) -> InputError:
    return InputError(f"{url}: invalid UTF-8 at byte {at}; fix the file or {plan_flag_fix('--decode-errors replace|skip')}")


def record_too_long(url: str, where: str, max_record: int) -> InputError:
    return InputError(
        f"{url}: a record {where} is longer than --max-record-mb {max_record // MB}; fix the input or {plan_flag_fix('a higher --max-record-mb')}"
    )


def _check_lines(data: bytes, max_record: int, url: str, start: int) -> None:
    """Refuse a line of ``data`` (whole lines read from ``start`` on) longer than ``max_record``, naming its offset."""
    pos = 0
    while pos < len(data):
        nl = data.find(b"\n", pos)
        end = len(data) if nl < 0 else nl
        if end - pos > max_record:
            raise record_too_long(url, f"at byte {first_line_start(url, start) + pos}", max_record)
        pos = end + 1


def line_offset(data: bytes, base: int, index: int, skipped_bad: bool = False) -> int:
    """Byte offset of line ``index`` in a block that starts at ``base``.

    With ``skipped_bad`` (``--decode-errors skip``) the index counts only
    the lines that decode, as the mapper saw them.
    """
    pos = 0
    while True:
        end = data.find(b"\n", pos)
        if not skipped_bad or _decodes(data[pos : len(data) if end < 0 else end]):
            if index == 0:
                return base + pos
            index -= 1
        if end < 0:
            raise ValueError("line index past the block")
        pos = end + 1


def _decodes(line: bytes) -> bool:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class Position:
    """Where the reader is, for error messages (file and byte offset), and how many records it gave.

    A block that read_blocks hands out as ``zip`` over its lines sets
    ``pending`` to the iterator of those lines: the line being mapped, and
    the records given, are then worked out from what it has left, so no
    line costs a store here.
    """

    __slots__ = ("url", "block", "base", "index", "pending", "count", "done", "skips_bad")

    def __init__(self, skips_bad: bool = False) -> None:
        self.skips_bad = skips_bad  # --decode-errors skip: a block's lines may leave some out
        self.url = ""
        self.block = b""
        self.base = 0
        self.index = 0
        self.pending: Iterator[str] | None = None  # the current block's lines not yet given
        self.count = 0  # lines in the current block
        self.done = 0  # records given before the current block

    def start_block(self, data: bytes, base: int, lines: list[str]) -> Iterator[str]:
        """Follow a new block of whole lines; return the iterator of its lines to hand out."""
        self.done += self.count  # the block before is used up: a chain asks for the next only then
        self.block, self.base, self.count = data, base, len(lines)
        self.pending = iter(lines)
        return self.pending

    def records(self) -> int:
        """Records given so far (the one being mapped included)."""
        if self.pending is None:
            return self.done
        return self.done + self.count - operator.length_hint(self.pending)

    def describe(self) -> str:
        """"file at byte N", computed only when an error needs it."""
        if not self.url:
            return ""
        base = self.base
        index = self.index if self.pending is None else max(0, self.count - operator.length_hint(self.pending) - 1)
        try:
            if base < 0:
                base = first_line_start(self.url, -base - 1)
            if self.block:
                return f"{self.url} at byte {line_offset(self.block, base, index, self.skips_bad)}"
        except (OSError, ValueError):
            pass
        return f"{self.url} at byte {max(base, 0)}"


def read_blocks(piece: Piece, policy: DecodePolicy, pos: Position, max_record: int) -> Iterator[Iterator[tuple[Any, Any]]]:
    """The records of one piece as read_piece gives them, in blocks: ``chain.from_iterable`` them.

    A map reads every line through here, so a block of lines (about CHUNK
    bytes) is ``zip`` over them, iterated in C: Python runs once a block,
    not once a line.  Other formats come as one block, counted one by one.
    """
    if piece.format != "lines":
        yield _counted(read_piece(piece, policy, pos, max_record), pos)
        return
    _start_piece(piece, pos)
    keys = itertools.repeat(None)  # endless: the block's lines end each zip
    for base, data in _line_blocks(piece, max_record):
        yield zip(keys, pos.start_block(data, base, policy.decode_lines(data, piece.url, base)), strict=False)


def _counted(records: Iterator[tuple[Any, Any]], pos: Position) -> Iterator[tuple[Any, Any]]:
    for kv in records:
        pos.done += 1
        yield kv


def _start_piece(piece: Piece, pos: Position) -> None:
    pos.done += pos.count
    pos.url, pos.block, pos.base, pos.index, pos.pending, pos.count = piece.url, b"", piece.start, 0, None, 0


def read_piece(piece: Piece, policy: DecodePolicy, pos: Position, max_record: int) -> Iterator[tuple[Any, Any]]:
    """Yield (key, value) records of one piece, keeping ``pos`` current."""
    _start_piece(piece, pos)
    if piece.format == "run":
        yield from _read_run(piece)
    elif piece.format == "files":
        with store.open_input(piece.url) as f:
            data = _read_all(f, piece.url)
        text = policy.decode_text(data, piece.url)
        if text is not None:
            yield piece.url, text
    else:
        parse = _parse_jsonl(piece.url, pos) if piece.format == "jsonl" else None
        for base, data in _line_blocks(piece, max_record):
            lines = policy.decode_lines(data, piece.url, base)
            pos.block, pos.base = data, base
            if parse is None:
                for i, line in enumerate(lines):
                    pos.index = i
                    yield None, line
            else:
                for i, line in enumerate(lines):
                    if line.strip():
                        pos.index = i
                        yield None, parse(line)


def _parse_jsonl(url: str, pos: Position) -> Any:
    def parse(line: str) -> Any:
        try:
            return json.loads(line)
        except ValueError as e:
            raise InputError(f"{pos.describe()}: invalid JSON ({e.args[0]}); fix the line or use INPUT_FORMAT = 'lines'") from None

    return parse


def _read_all(f: Any, url: str) -> bytes:
    try:
        return bytes(f.read())
    except (OSError, EOFError, ValueError) as e:
        raise InputError(f"{url}: cannot decompress ({type(e).__name__}: {e}); the file is truncated or corrupt") from None


def _line_blocks(piece: Piece, max_record: int) -> Iterator[tuple[int, bytes]]:
    """Yield (offset, bytes of whole lines) in chunks of about CHUNK bytes."""
    if piece.end >= 0 and store.compression_of(piece.url) is None:
        with store.open_random(piece.url) as f:
            for start in range(piece.start, piece.end, CHUNK):
                length = min(CHUNK, piece.end - start)
                data = store.read_lines_block(f, start, length)
                if len(data) > max_record:  # else no line in it can be too long
                    _check_lines(data, max_record, piece.url, start)
                if data:
                    # read_block starts at the first line that begins in
                    # range; -start marks an offset to resolve on error only.
                    yield (-start - 1 if start else 0), data
        return
    # Whole files, compressed or not: stream, cutting at the last newline.
    with store.open_input(piece.url) as f:
        offset = 0
        rest = b""
        while True:
            try:
                chunk = f.read(CHUNK)
            except (OSError, EOFError, ValueError) as e:
                raise InputError(f"{piece.url}: cannot decompress ({type(e).__name__}: {e}); the file is truncated or corrupt") from None
            if not chunk:
                break
            data = rest + chunk
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                if len(data) > max_record:
                    raise record_too_long(piece.url, f"at byte {offset}", max_record)
                rest = data
                continue
            yield offset, data[:cut]
            offset += cut
            rest = data[cut:]
        if rest:
            yield offset, rest


def first_line_start(url: str, start: int) -> int:
    """The offset of the first line that read_block gives for a range at ``start``."""
    if start == 0:
        return 0
    with store.open_random(url) as f:
        return store.after_newline(f, start)


def _read_run(piece: Piece) -> Iterator[tuple[Any, Any]]:
    decode_key, decode_value = codec.decode_key, codec.decode_value
    for read in store.range_reader(piece.url, 0, store.size(piece.url)):
        for k, v in iter_records(read, piece.url, piece.producer, piece.records if piece.records >= 0 else None):
            yield decode_key(k), decode_value(v)
