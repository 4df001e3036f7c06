"""The archive folder. Files are named by the SHA-256 of their bytes, never by a value read from
a DICOM file, and reach their final name only once written and fsynced (temporary file, fsync,
rename, fsync of the folder), so a name in the archive always holds a whole file."""

import errno
import hashlib
import os
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings

from dicomkit.errors import DicomRejected
from worklist.fault_injection import fault_point

TEMP_FOLDER = "incoming"


def root() -> Path:
    return Path(settings.STORAGE_DIR)


def key_for(digest: str) -> str:
    return f"{digest[:2]}/{digest[2:4]}/{digest}.dcm"


def path_of(key: str) -> Path:
    return root() / key


def write_durably(data: bytes, digest: str) -> tuple[str, bool]:
    """Store the bytes under their digest; return the key and whether this call created the file."""
    key = key_for(digest)
    final = path_of(key)
    if final.exists():
        os.utime(final)  # a fresh mtime keeps the orphan sweeper off a file about to be indexed
        return key, False
    with _storage_errors():
        temp = _write_temporary(data)
        _publish(temp, final)
    return key, True


class StagedWrite:
    """Bytes being hashed, written to a temporary file and fsynced by a worker thread while the
    caller parses and validates them: hashing and fsync release the GIL, so the disk wait overlaps
    the parse. `finish` gives them their final name, `wait_durable` waits until that name is
    durable; `discard` drops them."""

    def __init__(self, data: bytes) -> None:
        self.size = len(data)
        self._folder_synced: Future | None = None
        # Hashing and writing on two threads: on two cores the hash no longer delays the fsync.
        self._hashed = _writer.submit(_hex_digest, data)
        self._written = _writer.submit(_write_temporary, data)

    def digest(self) -> str:
        return self._hashed.result()

    def finish(self) -> tuple[str, bool]:
        """Like write_durably (the key, and whether this call created the file), except that the
        folder's fsync, which makes the new name survive a power cut, goes on in the background
        until `wait_durable`: the caller indexes the file meanwhile, so the two disk waits overlap."""
        with _storage_errors():
            temp = self._written.result()
        key = key_for(self.digest())
        final = path_of(key)
        if final.exists():
            temp.unlink(missing_ok=True)
            os.utime(final)  # as in write_durably
            return key, False
        with _storage_errors():
            _rename(temp, final)
        self._folder_synced = _writer.submit(_fsync_folder, final.parent)
        return key, True

    def wait_durable(self) -> None:
        """Return once the name `finish` gave is durable; raise DicomRejected if it cannot be."""
        if self._folder_synced is not None:
            with _storage_errors():
                self._folder_synced.result()

    def discard(self) -> None:
        # Waits for the worker, so that no temporary file outlives a refusal.
        try:
            self._written.result().unlink(missing_ok=True)
        except OSError:
            pass


def _hex_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# Each association thread has at most one write staged at a time: a hash, a write, a folder fsync.
WRITER_THREADS = 12
_writer = ThreadPoolExecutor(max_workers=WRITER_THREADS, thread_name_prefix="archive-write")


def _fresh_writer_in_child() -> None:
    # A forked process (listener workers, a forked server) inherits the pool without its threads:
    # a write handed to it would wait for ever.
    global _writer
    _writer = ThreadPoolExecutor(max_workers=WRITER_THREADS, thread_name_prefix="archive-write")


os.register_at_fork(after_in_child=_fresh_writer_in_child)
# Folders known to exist (absolute paths): the 256x256 fan-out is created once, not checked per file.
_known_folders: set[str] = set()


def _ensure_folder(folder: Path) -> None:
    name = str(folder)
    if name not in _known_folders:
        folder.mkdir(parents=True, exist_ok=True)
        _known_folders.add(name)


def _write_temporary(data: bytes) -> Path:
    temp_dir = root() / TEMP_FOLDER
    _ensure_folder(temp_dir)
    temp = temp_dir / f"{uuid.uuid4().hex}.part"
    try:
        try:
            handle = open(temp, "wb")
        except FileNotFoundError:  # the folder was removed since it was remembered
            _known_folders.discard(str(temp_dir))
            _ensure_folder(temp_dir)
            handle = open(temp, "wb")
        with handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp


def _publish(temp: Path, final: Path) -> None:
    """Rename the fsynced temporary file to its final name and fsync the folder."""
    _rename(temp, final)
    _fsync_folder(final.parent)


def _rename(temp: Path, final: Path) -> None:
    try:
        _ensure_folder(final.parent)
        fault_point("before_rename")
        try:
            os.replace(temp, final)
        except FileNotFoundError:  # the folder was removed since it was remembered
            _known_folders.discard(str(final.parent))
            _ensure_folder(final.parent)
            os.replace(temp, final)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


@contextmanager
def _storage_errors() -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DicomRejected("storage_full", "the archive is full", dimse_status=0xA700, http_status=507) from None
        raise DicomRejected(
            "storage_error", "the archive could not write the file", dimse_status=0xA700, http_status=503
        ) from None


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def remove(key: str) -> None:
    path_of(key).unlink(missing_ok=True)


def stored_keys(older_than_seconds: float) -> list[str]:
    """Keys of archive files not touched for the given time (candidates for the orphan sweep)."""
    cutoff = time.time() - older_than_seconds
    base = root()
    keys = []
    for path in base.glob("??/??/*.dcm"):
        try:
            if path.stat().st_mtime <= cutoff:
                keys.append(str(path.relative_to(base)))
        except FileNotFoundError:
            continue
    return keys


def stale_temporary_files(older_than_seconds: float) -> list[Path]:
    cutoff = time.time() - older_than_seconds
    folder = root() / TEMP_FOLDER
    if not folder.is_dir():
        return []
    return [path for path in folder.iterdir() if path.stat().st_mtime <= cutoff]
