"""Read the files of a ZIP archive without trusting it (ASVS 5.2.3, battery B11).

The whole directory is checked before any member is inflated: entry count (read from the end
record, before zipfile parses a possibly huge directory), names with `..` or absolute paths,
symbolic links, encryption, declared sizes, compression ratios and overlapping entries (a zip
bomb reuses one compressed kernel for many entries). A ZIP inside the archive is checked the same
way up front; one more level of nesting is refused. Members are read into memory with a cap and
never written to disk, so a name inside the archive never becomes a path."""

import io
import re
import stat
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")
END_RECORD = b"PK\x05\x06"
ZIP64_END_LOCATOR = b"PK\x06\x07"
ZIP64_END_RECORD = b"PK\x06\x06"
END_RECORD_SEARCH_BYTES = 22 + 0xFFFF  # the end record plus the longest archive comment
DRIVE_PREFIX = re.compile(r"^[A-Za-z]:")
# Inflating more than this needs an explanation; DICOM rarely deflates better than 20:1, a
# bomb does about 1000:1. Small entries are exempt: their ratio says nothing.
DEFAULT_MAX_RATIO = 200
RATIO_EXEMPT_BYTES = 1 << 20
DEFAULT_MAX_TOTAL_BYTES = 16 << 30
# What zipfile raises for a damaged, unsupported or mis-declared member.
MEMBER_READ_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    NotImplementedError,
    RuntimeError,
    OSError,
)


class ZipRefused(Exception):
    """The archive is refused as a whole; nothing of it was read."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ZipLimits:
    max_entries: int
    max_member_bytes: int
    max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES
    max_ratio: int = DEFAULT_MAX_RATIO
    max_depth: int = 1  # a ZIP inside the ZIP is read; a ZIP inside that one is refused


@dataclass(frozen=True)
class ZipMember:
    # The name inside the archive(s), for people to read; never used as a path.
    name: str
    data: bytes
    problem: str = ""  # why the member could not be read, when it could not


def looks_like_zip(head: bytes) -> bool:
    return head[:4] in ZIP_SIGNATURES


class CheckedZip:
    """An archive whose directory (and nested archives' directories) passed every check."""

    def __init__(self, source: Path | bytes, limits: ZipLimits):
        self.limits = limits
        self._source = source
        self._nested: set[str] = set()
        self._total_bytes = 0
        self.file_count = 0
        self._check(source, depth=0, prefix="")

    def members(self) -> Iterator[ZipMember]:
        """Each file in the archive, nested archives expanded, read into memory one at a time."""
        yield from self._members(self._source, prefix="")

    def _open(self, source: Path | bytes) -> zipfile.ZipFile:
        return zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source)

    def _check(self, source: Path | bytes, *, depth: int, prefix: str) -> None:
        label = f"in {prefix.removesuffix('!')}: " if prefix else ""
        size = len(source) if isinstance(source, bytes) else source.stat().st_size
        _check_entry_count(source, self.limits.max_entries, label)
        try:
            archive = self._open(source)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            raise ZipRefused("zip_unreadable", f"{label}not a readable ZIP archive ({exc})") from None
        with archive:
            entries = archive.infolist()
            if len(entries) > self.limits.max_entries:
                raise ZipRefused(
                    "zip_too_many_entries",
                    f"{label}more than {self.limits.max_entries} entries",
                )
            compressed = 0
            for entry in entries:
                _check_entry(entry, self.limits, label)
                compressed += entry.compress_size
                if not entry.is_dir():
                    self._total_bytes += entry.file_size
            if compressed > size:
                raise ZipRefused(
                    "zip_bomb",
                    f"{label}entries overlap (their data exceeds the archive's size)",
                )
            if self._total_bytes > self.limits.max_total_bytes:
                raise ZipRefused(
                    "zip_bomb",
                    f"{label}inflates to more than {self.limits.max_total_bytes} bytes in total",
                )
            for entry in entries:
                if entry.is_dir():
                    continue
                if not _member_is_zip(archive, entry):
                    self.file_count += 1
                    continue
                if depth + 1 > self.limits.max_depth:
                    raise ZipRefused("zip_nested", "ZIP archives nested deeper than one level")
                name = f"{prefix}{entry.filename}"
                self._nested.add(name)
                nested = _read(archive, entry, self.limits.max_member_bytes)
                self._check(nested, depth=depth + 1, prefix=f"{name}!")

    def _members(self, source: Path | bytes, *, prefix: str) -> Iterator[ZipMember]:
        with self._open(source) as archive:
            for entry in archive.infolist():
                if entry.is_dir():
                    continue
                name = f"{prefix}{entry.filename}"
                try:
                    data = _read(archive, entry, self.limits.max_member_bytes)
                except ZipRefused as refusal:
                    yield ZipMember(name=name, data=b"", problem=refusal.message)
                    continue
                if name in self._nested:
                    yield from self._members(data, prefix=f"{name}!")
                else:
                    yield ZipMember(name=name, data=data)


def _check_entry_count(source: Path | bytes, max_entries: int, label: str) -> None:
    """Read the entry count from the end record, so a huge directory is refused unparsed."""
    if isinstance(source, bytes):
        tail = source[-END_RECORD_SEARCH_BYTES:]
        tail_start = len(source) - len(tail)
    else:
        with open(source, "rb") as handle:
            handle.seek(0, io.SEEK_END)
            tail_start = max(0, handle.tell() - END_RECORD_SEARCH_BYTES)
            handle.seek(tail_start)
            tail = handle.read()
    position = tail.rfind(END_RECORD)
    if position < 0 or position + 22 > len(tail):
        return  # zipfile says what is wrong with it
    count = int.from_bytes(tail[position + 10 : position + 12], "little")
    locator = position - 20
    if count == 0xFFFF and locator >= 0 and tail[locator : locator + 4] == ZIP64_END_LOCATOR:
        record_offset = int.from_bytes(tail[locator + 8 : locator + 16], "little") - tail_start
        if 0 <= record_offset and tail[record_offset : record_offset + 4] == ZIP64_END_RECORD:
            count = int.from_bytes(tail[record_offset + 32 : record_offset + 40], "little")
    if count > max_entries:
        raise ZipRefused("zip_too_many_entries", f"{label}{count} entries, more than {max_entries}")


def _check_entry(entry: zipfile.ZipInfo, limits: ZipLimits, label: str) -> None:
    name = entry.filename
    shown = name.encode("unicode_escape").decode("ascii")[:120]
    normalized = name.replace("\\", "/")
    if "\x00" in name:
        raise ZipRefused("zip_bad_name", f"{label}entry name with a NUL byte")
    if normalized.startswith("/") or DRIVE_PREFIX.match(normalized):
        raise ZipRefused("zip_absolute_path", f"{label}entry with an absolute path: {shown}")
    if ".." in normalized.split("/"):
        raise ZipRefused("zip_path_traversal", f"{label}entry with '..' in its path: {shown}")
    if stat.S_ISLNK(entry.external_attr >> 16):
        raise ZipRefused("zip_symlink", f"{label}entry is a symbolic link: {shown}")
    if entry.flag_bits & 0x1:
        raise ZipRefused("zip_encrypted", f"{label}entry is encrypted: {shown}")
    if entry.file_size > limits.max_member_bytes:
        raise ZipRefused("zip_bomb", f"{label}entry inflates to {entry.file_size} bytes: {shown}")
    if entry.file_size > RATIO_EXEMPT_BYTES and entry.file_size > limits.max_ratio * max(entry.compress_size, 1):
        raise ZipRefused(
            "zip_bomb",
            f"{label}entry compressed more than {limits.max_ratio}:1: {shown}",
        )


def _member_is_zip(archive: zipfile.ZipFile, entry: zipfile.ZipInfo) -> bool:
    if entry.file_size < 22:  # smaller than an empty archive
        return False
    try:
        with archive.open(entry) as handle:
            return looks_like_zip(handle.read(4))
    except MEMBER_READ_ERRORS:
        return False  # reported when the member itself is read


def _read(archive: zipfile.ZipFile, entry: zipfile.ZipInfo, max_bytes: int) -> bytes:
    try:
        with archive.open(entry) as handle:
            # zipfile stops at the declared size and checks the CRC at the end.
            data = handle.read(max_bytes + 1)
    except MEMBER_READ_ERRORS as exc:
        raise ZipRefused("zip_member_unreadable", f"ZIP entry cannot be read ({exc})") from None
    if len(data) > max_bytes:
        raise ZipRefused("zip_bomb", f"ZIP entry inflates to more than {max_bytes} bytes")
    return data
