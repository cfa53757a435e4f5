"""Storage: the only module that talks to fsspec.

Every URL fsspec knows works: local paths, ``file://``, ``s3://`` (s3fs, with
the standard AWS variables; MinIO users set ``AWS_ENDPOINT_URL`` or
``FSSPEC_S3_ENDPOINT_URL``), ``gs://``, ``memory://``.  Writes are atomic:
an object is either whole and visible or absent, so a killed task never
leaves a file that a later task would read.

Local paths go straight to ``os`` and ``open`` (globs and ``.zst`` aside):
fsspec's import (asyncio with it) is a quarter of a small local run's fixed
cost, and its listing and opening cost 0.1 s of CPU on 1,600 small files.
fsspec is imported on the first URL that needs it.
"""

from __future__ import annotations

import bz2
import contextlib
import fnmatch
import gzip
import os
import posixpath
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from mrargo.errors import InputError, PlanError

COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd"}
_HIDDEN = ("_", ".")


@dataclass(frozen=True)
class FileInfo:
    url: str
    size: int

    @property
    def compression(self) -> str | None:
        return compression_of(self.url)


def compression_of(url: str) -> str | None:
    return COMPRESSIONS.get(posixpath.splitext(url)[1].lower())


def is_local(url: str) -> bool:
    return "://" not in url or url.startswith("file://")


def normalize(url: str) -> str:
    """Absolute path for local files; URLs unchanged."""
    if url.startswith("file://"):
        url = url[len("file://") :]
    if "://" not in url:
        return os.path.abspath(os.path.expanduser(url))
    return url.rstrip("/") if not url.endswith("://") else url


# -- where URLs point, for the safety checks ---------------------------------

_MAGIC = ("*", "?", "[")


@dataclass(frozen=True)
class Location:
    """A URL reduced to what it names: the filesystem, then path segments.

    ``parts`` is the fixed part (symlinks resolved for local paths, ``..``
    and repeated or trailing slashes gone); ``pattern`` the glob segments
    after it, if the URL is a glob.
    """

    fs: str
    parts: tuple[str, ...]
    pattern: tuple[str, ...] = ()

    def contains(self, other: Location) -> bool:
        """True if ``other`` is this location or lies under what it names (its glob included)."""
        if other.fs != self.fs or other.parts[: len(self.parts)] != self.parts:
            return False
        if not self.pattern:
            return True
        rest = other.parts[len(self.parts) :]
        # Under a glob: the glob must match `other` or one of its ancestors,
        # or a directory the glob matches would be walked into.
        return any(_glob_match(self.pattern, rest[:n]) for n in range(1, len(rest) + 1))

    def reaches_into(self, other: Location) -> bool:
        """True if this glob could match a path under ``other``: ``d/*/a.txt`` reaches into ``d/sub``."""
        if not self.pattern or other.fs != self.fs or other.parts[: len(self.parts)] != self.parts:
            return False
        return _glob_prefix(self.pattern, other.parts[len(self.parts) :])


def _glob_prefix(pattern: tuple[str, ...], parts: tuple[str, ...]) -> bool:
    """True if some path that starts with ``parts`` and goes deeper could match ``pattern``."""
    if not parts:
        return bool(pattern)
    if not pattern:
        return False
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return True  # it spans whatever ``parts`` holds, and what lies under them
    return fnmatch.fnmatchcase(parts[0], head) and _glob_prefix(rest, parts[1:])


def _glob_match(pattern: tuple[str, ...], parts: tuple[str, ...]) -> bool:
    """fsspec's glob rule, segment by segment: ``*`` stays in a segment, ``**`` spans any number."""
    if not pattern:
        return not parts
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(_glob_match(rest, parts[n:]) for n in range(len(parts) + 1))
    return bool(parts) and fnmatch.fnmatchcase(parts[0], head) and _glob_match(rest, parts[1:])


def locate(url: str, glob: bool = True) -> Location:
    """Where ``url`` points, normalised: ``file://``, ``..``, symlinks, trailing slashes.

    With ``glob``, segments from the first one with ``*``, ``?`` or ``[``
    on are the pattern; outputs and work folders are never globs.
    """
    url = normalize(url)
    if is_local(url):
        fs_key, path = "file", url
    else:
        # By scheme, without the backend: compile checks gs:// URLs on machines without gcsfs.
        scheme, _, path = url.partition("://")
        fs_key = _fs_key(scheme.lower())
    segments = [s for s in path.split("/") if s not in ("", ".")]
    cut = next((i for i, s in enumerate(segments) if any(c in s for c in _MAGIC)), len(segments)) if glob else len(segments)
    fixed, pattern = segments[:cut], tuple(segments[cut:])
    if is_local(url):
        parts = tuple(s for s in os.path.realpath("/" + "/".join(fixed)).split(os.sep) if s)
    else:
        parts = tuple(s for s in posixpath.normpath("/" + "/".join(fixed)).split("/") if s)
    return Location(fs_key, parts, pattern)


def _fs_key(scheme: str) -> str:
    """One name per filesystem: aliases (s3a for s3, gcs for gs) share their implementation."""
    from fsspec.registry import known_implementations

    return str(known_implementations.get(scheme, {}).get("class", scheme))


def check_apart(inputs: tuple[str, ...] | list[str], output: str, work: str = "") -> None:
    """Refuse an output (or work folder) that is, holds or lies inside an input.

    An output that holds an input would be deleted with it by --overwrite;
    one inside an input would be read back by the next run over that input.
    The check is on normalised locations, before any work starts.
    """
    fix = "choose an output outside every input"
    out = locate(output, glob=False) if output else None
    wk = locate(work, glob=False) if work else None
    for url in inputs:
        src = locate(url)
        fixed = Location(src.fs, src.parts)
        if out is not None:
            if out == fixed:
                raise PlanError(f"output {output} is input {url}; {fix}")
            if out.contains(fixed):
                raise PlanError(f"output {output} holds input {url}, which --overwrite would delete; {fix}")
            if src.reaches_into(out):
                # Files the glob matches may lie in the output folder; where
                # they do not yet, the next run over that glob may read them.
                raise PlanError(f"output {output} may hold files that input {url} matches, which --overwrite would delete; {fix}")
            if src.contains(out):
                raise PlanError(f"output {output} is inside input {url}, so a run over that input would read this output; {fix}")
        if wk is not None and (src.contains(wk) or wk == fixed):
            raise PlanError(f"work folder {work} is inside input {url}, which would read it as input; choose a work folder outside every input")
    if out is not None and wk is not None and (out.contains(wk) or wk.contains(out)):
        raise PlanError(f"output {output} and work folder {work} overlap; keep intermediate data apart from the output")


def token(nbytes: int) -> str:
    """``2 * nbytes`` random hex digits, for names no other writer picks.

    What ``uuid.uuid4().hex[:2 * nbytes]`` gave (its first 12 digits are
    all random), without importing uuid, which imports platform.
    """
    return os.urandom(nbytes).hex()


def join(base: str, *parts: str) -> str:
    for p in parts:
        if p.startswith("/") or ".." in p.split("/"):
            raise PlanError(f"refusing path part {p!r}: it must stay under {base}")
    return "/".join([base.rstrip("/"), *parts])


def _local_path(url: str) -> str:
    """The path of a local URL (``is_local``): ``file://`` gone, absolute."""
    return os.path.abspath(url[len("file://") :] if url.startswith("file://") else url)


def _fs(url: str) -> tuple[Any, str]:
    from fsspec.core import url_to_fs

    try:
        fs, path = url_to_fs(url)
        return fs, str(path)
    except ImportError as e:
        from fsspec.registry import known_implementations

        package = str(known_implementations.get(url.split("://", 1)[0].lower(), {}).get("class", "")).split(".")[0] or "its fsspec backend"
        raise PlanError(f"cannot open {url}: {e}; pip install {package} here, and for pods build the image with mrargo image build --extra {package}") from None
    except ValueError as e:
        raise PlanError(f"cannot open {url}: {e}") from None


def _url(fs: Any, path: str, like: str) -> str:
    """Turn an fsspec path back into a URL with the scheme of ``like``."""
    if is_local(like):
        return path
    return str(fs.unstrip_protocol(path))


def expand_inputs(patterns: tuple[str, ...] | list[str]) -> list[FileInfo]:
    """Files, directories (recursively) and globs, sorted; each must match something.

    Names starting with ``_`` or ``.`` inside directories are skipped, so a
    previous job's output directory (with ``_SUCCESS``) reads as its parts.
    """
    out: dict[str, FileInfo] = {}
    for pattern in patterns:
        if is_local(pattern) and not any(c in pattern for c in _MAGIC):
            out.update((f.url, f) for f in _expand_local(pattern))
            continue
        fs, path = _fs(pattern)
        found: dict[str, Any] = {}
        if any(c in path for c in _MAGIC):
            for p, info in fs.glob(path, detail=True).items():
                if info["type"] == "directory":
                    found.update(_walk(fs, p))
                else:
                    found[p] = info
        elif fs.isdir(path):
            found = _walk(fs, path)
        elif fs.exists(path):
            found = {path: fs.info(path)}
        else:
            raise InputError(f"input {pattern!r} does not exist; check the path")
        if not found:
            raise InputError(f"input {pattern!r} matched no files; check the path or glob")
        for p, info in found.items():
            url = _url(fs, p, pattern)
            out[url] = FileInfo(url, int(info.get("size") or 0))
    return [out[k] for k in sorted(out)]


def _expand_local(pattern: str) -> list[FileInfo]:
    """expand_inputs for a local file or directory, with ``os`` alone.

    Symlinks are followed, to files and to directories (each directory
    once, so a link to an ancestor ends the walk there); a dangling link is
    a file of size 0, whose reading then fails with its name.
    """
    path = _local_path(pattern)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise InputError(f"input {pattern!r} does not exist; check the path") from None
    if not stat.S_ISDIR(st.st_mode):
        return [FileInfo(path, st.st_size)]
    found: list[FileInfo] = []
    seen = {(st.st_dev, st.st_ino)}
    for top, dirs, files in os.walk(path, followlinks=True):
        kept = []
        for d in dirs:
            if d.startswith(_HIDDEN):
                continue
            with contextlib.suppress(OSError):
                dst = os.stat(os.path.join(top, d))
                if (dst.st_dev, dst.st_ino) not in seen:
                    seen.add((dst.st_dev, dst.st_ino))
                    kept.append(d)
        dirs[:] = kept
        for name in files:
            if name.startswith(_HIDDEN):
                continue
            full = os.path.join(top, name)
            try:
                size = os.stat(full).st_size
            except OSError:
                size = 0
            found.append(FileInfo(full, size))
    if not found:
        raise InputError(f"input {pattern!r} matched no files; check the path or glob")
    return found


def _walk(fs: Any, path: str) -> dict[str, Any]:
    found = {}
    for p, info in fs.find(path, detail=True).items():
        rel = p[len(path) :].lstrip("/")
        if any(part.startswith(_HIDDEN) for part in rel.split("/")):
            continue
        found[p] = info
    return found


@contextlib.contextmanager
def open_input(url: str) -> Iterator[BinaryIO]:
    """Open an input for streaming reads, decompressing .gz/.bz2/.zst."""
    compression = compression_of(url)
    try:
        if is_local(url) and compression != "zstd":
            opener: Any = {None: open, "gzip": gzip.open, "bz2": bz2.open}[compression]
            with opener(_local_path(url), "rb") as f:
                yield f
            return
        import fsspec

        with fsspec.open(url, "rb", compression=compression) as f:
            yield f
    except FileNotFoundError:
        raise InputError(f"input {url} disappeared while the job ran") from None
    except ImportError as e:
        raise InputError(f"cannot read {url}: {e}") from None


def read_lines_block(f: BinaryIO, offset: int, length: int) -> bytes:
    """The whole lines that a range gives by fsspec's ``read_block`` rule, with a newline delimiter.

    A range at 0 starts at 0; any other starts just after the first newline
    at or after ``offset``; and it ends just after the first newline at or
    after ``offset + length`` (or at the end of the file).  So consecutive calls over adjacent ranges return every line
    exactly once, the same lines as fsspec gives (tests/test_store.py holds
    the two side by side).
    """
    start = after_newline(f, offset) if offset else 0
    end = after_newline(f, offset + length) if offset + length else 0
    f.seek(start)
    return bytes(f.read(end - start))


def after_newline(f: BinaryIO, pos: int) -> int:
    """The offset just after the first newline at or after ``pos``, or the end of the file."""
    f.seek(pos)
    while chunk := f.read(1 << 16):
        i = chunk.find(b"\n")
        if i >= 0:
            return pos + i + 1
        pos += len(chunk)
    return pos


@contextlib.contextmanager
def open_random(url: str) -> Iterator[BinaryIO]:
    """Open an uncompressed object for seeks and range reads."""
    try:
        if is_local(url):
            with open(_local_path(url), "rb") as f:
                yield f
            return
        fs, path = _fs(url)
        with fs.open(path, "rb", block_size=1 << 20) as f:
            yield f
    except FileNotFoundError:
        raise FileNotFoundError(url) from None


def range_reader(url: str, start: int, end: int, chunk: int = 1 << 20) -> Iterator[Callable[[int], bytes]]:
    """Yield a ``read(n)`` over bytes [start, end) of an object, fetched in chunks.

    Memory stays at one chunk however many readers are open at once.
    """
    if is_local(url):
        with open(_local_path(url), "rb") as f:
            f.seek(start)
            remaining = [end - start]

            def read_local(n: int) -> bytes:
                n = min(n, remaining[0])
                data = f.read(n)
                remaining[0] -= len(data)
                return data

            yield read_local
        return
    fs, path = _fs(url)
    buf = bytearray()
    pos = [start]

    def read_remote(n: int) -> bytes:
        while len(buf) < n and pos[0] < end:
            stop = min(end, pos[0] + max(chunk, n - len(buf)))
            buf.extend(fs.cat_file(path, start=pos[0], end=stop))
            pos[0] = stop
        data = bytes(buf[:n])
        del buf[:n]
        return data

    yield read_remote


@contextlib.contextmanager
def atomic_writer(url: str) -> Iterator[BinaryIO]:
    """Write an object that appears whole on success and not at all on error."""
    if is_local(url):
        path = _local_path(url)
        d = os.path.dirname(path)
        os.makedirs(d, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=d)
        try:
            # mkstemp makes 0600; a finished file gets the mode open() would give it.
            os.fchmod(fd, 0o666 & ~_umask())
            with os.fdopen(fd, "wb") as f:
                yield f
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return
    # Spool locally and upload once on success.  fsspec's autocommit=False is
    # not honoured by every backend (memory:// commits at open), and closing
    # an s3fs file on error would commit a truncated object; an upload that
    # never finishes leaves nothing visible.
    fs, path = _fs(url)
    with tempfile.NamedTemporaryFile(prefix="mrargo-spool-") as spool:
        yield spool  # type: ignore[misc]
        spool.flush()
        fs.put_file(spool.name, path)


def _umask() -> int:
    """The process umask, read without changing it where Linux allows (threads may be creating files)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def put_bytes(url: str, data: bytes) -> None:
    with atomic_writer(url) as f:
        f.write(data)


def get_bytes(url: str) -> bytes:
    if is_local(url):
        with open(_local_path(url), "rb") as f:
            return f.read()
    fs, path = _fs(url)
    try:
        # From byte 0 on: one ranged GET.  Without a range s3fs asks the
        # size first (a HEAD, to split large reads), for every marker and
        # bundle a task reads (bench/results/2026-11-27-cluster-overhead.md).
        return bytes(fs.cat_file(path, start=0))
    except FileNotFoundError:
        raise
    except (OSError, ValueError):
        return bytes(fs.cat_file(path))  # a store that refuses a range over an empty object


def exists(url: str) -> bool:
    if is_local(url):
        return os.path.exists(_local_path(url))
    fs, path = _fs(url)
    return bool(fs.exists(path))


def size(url: str) -> int:
    if is_local(url):
        return os.path.getsize(_local_path(url))
    fs, path = _fs(url)
    return int(fs.size(path))


def list_dir(url: str) -> list[str]:
    """Names (not paths) directly under a prefix; empty if it does not exist."""
    if is_local(url):
        path = _local_path(url)
        if os.path.isdir(path):
            return sorted(os.listdir(path))
        return [os.path.basename(path)] if os.path.exists(path) else []
    fs, path = _fs(url)
    try:
        entries = fs.ls(path, detail=False)
    except FileNotFoundError:
        return []
    return sorted(posixpath.basename(str(e).rstrip("/")) for e in entries)


def remove(url: str) -> None:
    """Remove an object or a whole prefix; absent is fine."""
    if is_local(url):
        path = _local_path(url)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        return
    fs, path = _fs(url)
    with contextlib.suppress(FileNotFoundError):  # absent: rm says so, without an exists() first
        fs.rm(path, recursive=True)


def makedirs(url: str) -> None:
    if is_local(url):
        os.makedirs(_local_path(url), exist_ok=True)
        return
    fs, path = _fs(url)
    fs.makedirs(path, exist_ok=True)


def copy(src: str, dst: str) -> None:
    """Server-side copy where the filesystem has one; atomic at the destination."""
    if is_local(src) and is_local(dst):
        spath, dst = _local_path(src), _local_path(dst)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        tmp = f"{dst}.tmp-{token(4)}"
        try:
            os.link(spath, tmp)
        except OSError:
            shutil.copyfile(spath, tmp)
        os.replace(tmp, dst)
        return
    fs, spath = _fs(src)
    dfs, dpath = _fs(dst)
    if dfs is fs or type(dfs) is type(fs):
        fs.copy(spath, dpath)
        return
    with fs.open(spath, "rb") as fin, atomic_writer(dst) as fout:
        while chunk := fin.read(1 << 20):
            fout.write(chunk)


def output_has_data(url: str) -> bool:
    """True if the output location holds anything at all."""
    if is_local(url):
        path = _local_path(url)
        if os.path.isdir(path):
            return bool(os.listdir(path))
        return os.path.lexists(path)
    fs, path = _fs(url)
    try:
        # One listing: an object lists as itself, a folder as what it holds,
        # and nothing at all raises (exists, isdir and ls were 3 requests).
        return bool(fs.ls(path, detail=False))
    except FileNotFoundError:
        return False


def replace_dir_local(staged: str, final: str) -> None:
    """Make a staged local directory the output in one rename."""
    old = None
    if os.path.lexists(final):
        old = f"{final}.old-{token(4)}"
        os.rename(final, old)
    os.rename(staged, final)
    if old:
        shutil.rmtree(old, ignore_errors=True)
