"""The archive folder. Files are named by the SHA-256 of their bytes, never by a value read from
a DICOM file, and reach their final name only once written and fsynced (temporary file, fsync,
rename, fsync of the folder), so a name in the archive always holds a whole file."""

import errno
import os
import time
import uuid
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
    temp_dir = root() / TEMP_FOLDER
    try:
        temp_dir.mkdir(parents=True, exist_ok=True)
        final.parent.mkdir(parents=True, exist_ok=True)
        temp = temp_dir / f"{uuid.uuid4().hex}.part"
        try:
            with open(temp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            fault_point("before_rename")
            os.replace(temp, final)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        _fsync_folder(final.parent)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DicomRejected("storage_full", "the archive is full", dimse_status=0xA700, http_status=507) from None
        raise DicomRejected("storage_error", "the archive could not write the file", dimse_status=0xA700, http_status=503) from None
    return key, True


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
