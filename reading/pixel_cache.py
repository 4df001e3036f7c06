"""Decoded frames kept on disk under VAR_DIR/decoded, so that a study opened a second time is a
file read per frame, not a decode. Native monochrome frames are not kept: dicomkit.pixels reads
them straight from the stored file (a read and one integer pass), which is as cheap as reading a
copy and spares writing one.

A frame is named by the SHA-256 of its stored file, its number and its served type: the bytes of
a stored file never change, so neither do its frames, and nothing ever needs invalidating. Files
are written under a temporary name and renamed, so a reader sees a whole frame or none; a frame
file of the wrong size (cut short by a crash) is decoded again. Frames that cannot be decoded are
remembered too (`.problem`, the reason), unless the failure may pass (an unreadable file, memory).
Decoded frames are written by a background thread, so a cold request waits for decoding only;
`flush()` waits for the writes. CACHE_FORMAT changes whenever dicomkit.pixels would serve
different bytes, which starts a new cache; the old folder can simply be deleted."""

import logging
import os
import threading
import uuid
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from dicomkit.pixels import PixelDecodeError, PixelHeader, decode_frames, read_directly, reads_directly
from worklist import archive_files

logger = logging.getLogger(__name__)

CACHE_FORMAT = "v1"
# Decoded bytes waiting for the writer at most; past this a request writes its frames itself.
MAX_PENDING_BYTES = 256 << 20


@dataclass(frozen=True)
class FrameSource:
    """Where a frame comes from and how it is served."""

    sha256: str
    file_key: str
    number: int  # 1-based, as in DICOM
    header: PixelHeader
    problem: str = ""  # known before decoding (refused at ingest, flagged by the decode check)

    @property
    def cache_key(self) -> str:
        return f"{self.sha256}:{self.number}:{self.header.served_type}"


@dataclass(frozen=True)
class FrameBytes:
    data: bytes  # exactly header.frame_bytes; zeros when the frame has a problem
    problem: str = ""


def root() -> Path:
    return Path(settings.VAR_DIR) / "decoded" / CACHE_FORMAT


def frame_path(source: FrameSource) -> Path:
    # One folder level (256 folders): a folder per stored file cost a mkdir per frame written.
    return root() / source.sha256[:2] / f"{source.sha256}.{source.number}.{source.header.served_type}"


def _problem_path(source: FrameSource) -> Path:
    return root() / source.sha256[:2] / f"{source.sha256}.{source.number}.problem"


def frames(sources: Sequence[FrameSource]) -> list[FrameBytes]:
    """The served bytes of each frame, from the cache or decoded (each stored file opened once)."""
    results: list[FrameBytes | None] = []
    misses: dict[str, list[int]] = {}
    for index, source in enumerate(sources):
        if source.problem:
            found: FrameBytes | None = _problem(source, source.problem)
        elif reads_directly(source.header):
            found = _read_directly(source)
        else:
            found = _cached(source)
        results.append(found)
        if found is None:
            misses.setdefault(source.file_key, []).append(index)
    for file_key, indexes in misses.items():
        requests = [(sources[index].number, sources[index].header) for index in indexes]
        decoded = decode_frames(archive_files.path_of(file_key), requests, max_frame_bytes=settings.MAX_PIXEL_BYTES)
        for index, outcome in zip(indexes, decoded):
            results[index] = _keep(sources[index], outcome)
    return [result for result in results if result is not None]


def known_problems(sources: Sequence[FrameSource]) -> set[int] | None:
    """The positions of the frames that will be sent as problems, when that is known without
    decoding (every frame native, cached, or with a known problem: a look at the index and a
    stat each); None when some frame must be decoded first to know."""
    problems = set()
    for index, source in enumerate(sources):
        if source.problem:
            problems.add(index)
        elif reads_directly(source.header) or frame_path(source).exists():
            continue
        elif _problem_path(source).exists():
            problems.add(index)
        else:
            return None
    return problems


def _read_directly(source: FrameSource) -> FrameBytes | None:
    """Native frames are read from the archive each time: that costs less than reading a cached
    copy would save, and much less than writing one (measured in bench/series_fetch_bench.py)."""
    path = archive_files.path_of(source.file_key)
    try:
        data = read_directly(path, source.number, source.header, max_frame_bytes=settings.MAX_PIXEL_BYTES)
    except PixelDecodeError as problem:
        return _problem(source, problem.reason)
    return None if data is None else FrameBytes(data)


def _cached(source: FrameSource) -> FrameBytes | None:
    path = frame_path(source)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        data = None
    if data is not None and len(data) == source.header.frame_bytes:
        return FrameBytes(data)
    try:
        return _problem(source, _problem_path(source).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def _keep(source: FrameSource, outcome: bytes | PixelDecodeError) -> FrameBytes:
    if isinstance(outcome, PixelDecodeError):
        # The reason goes to the client, not the log: decoder messages can quote header values.
        logger.info("frame %s of file %s cannot be served", source.number, source.sha256[:12])
        if outcome.lasting:
            _write_later(_problem_path(source), outcome.reason.encode())
        return _problem(source, outcome.reason)
    _write_later(frame_path(source), outcome)
    return FrameBytes(outcome)


def _problem(source: FrameSource, reason: str) -> FrameBytes:
    return FrameBytes(bytes(source.header.frame_bytes), reason)


class _BackgroundWriter:
    """One thread writing decoded frames to the cache, with a cap on the bytes waiting for it."""

    def __init__(self) -> None:
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="decode-cache")
        self.lock = threading.Lock()
        self.pending_bytes = 0
        self.pending: set[Future] = set()

    def write(self, path: Path, data: bytes) -> None:
        with self.lock:
            queued = self.pending_bytes + len(data) <= MAX_PENDING_BYTES
            if queued:
                self.pending_bytes += len(data)
                future = self.executor.submit(_write, path, data)
                self.pending.add(future)
        if not queued:
            _write(path, data)  # the writer is behind: this request pays for its own writes
            return
        future.add_done_callback(lambda done: self._written(done, len(data)))

    def _written(self, future: Future, size: int) -> None:
        with self.lock:
            self.pending_bytes -= size
            self.pending.discard(future)

    def flush(self) -> None:
        while True:
            with self.lock:
                pending = list(self.pending)
            if not pending:
                return
            for future in pending:
                future.result()


_writer = _BackgroundWriter()
_write_later = _writer.write


def flush() -> None:
    """Wait until every frame decoded so far is in the cache."""
    _writer.flush()


def _write(path: Path, data: bytes) -> None:
    """Write under a temporary name, then rename: no reader ever sees a partial frame. No fsync
    (4-8 ms a frame here): this is a cache, and a frame cut short by a crash is decoded again."""
    temporary = path.with_name(f".{uuid.uuid4().hex}.part")
    try:
        try:
            temporary.write_bytes(data)
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary.write_bytes(data)
        try:
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
    except OSError as exc:
        # A full or read-only disk costs speed, not the frame: it is served all the same.
        logger.warning("decode cache not written (%s)", exc.strerror or exc)
