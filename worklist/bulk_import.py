"""Import DICOM files from folders and ZIP archives on this machine (a CD export, a colleague's
USB stick): every file goes through the one ingest, a refusal never stops the batch, and the run
ends with one audit row holding the counts.

Files are read in place. Names of files and ZIP entries are only shown back to the operator;
the archive keys come from the content digest."""

import logging
import os
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from accounts.audit import record
from accounts.models import AuditAction, Site
from worklist.ingest import IngestResult, ingest
from worklist.safe_zip import CheckedZip, ZipLimits, ZipRefused, looks_like_zip

logger = logging.getLogger(__name__)

DICOM_PREFIX_OFFSET = 128
INDEX_FILE_CODE = "dicomdir"
AUDIT_SOURCE = "manage.py import_dicom"


class FileRefused(Exception):
    """A file refused before ingest (too large to read)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class ImportReport:
    files: int = 0
    stored: int = 0
    already_present: int = 0
    index_files_skipped: int = 0
    links_skipped: int = 0
    refused_by_code: Counter[str] = field(default_factory=Counter)
    reason_for_code: dict[str, str] = field(default_factory=dict)
    # (name, code, reason) and (name, error class), names for people only
    refused_files: list[tuple[str, str, str]] = field(default_factory=list)
    failed_files: list[tuple[str, str]] = field(default_factory=list)

    @property
    def refused(self) -> int:
        return sum(self.refused_by_code.values())

    def refuse(self, name: str, code: str, reason: str) -> None:
        self.refused_by_code[code] += 1
        self.reason_for_code.setdefault(code, reason)
        self.refused_files.append((name, code, reason))

    def audit_detail(self, site: Site) -> dict:
        return {
            "site": site.code,
            "files": self.files,
            "stored": self.stored,
            "already_present": self.already_present,
            "index_files_skipped": self.index_files_skipped,
            "refused": self.refused,
            "refused_by_code": dict(self.refused_by_code),
            "failed": len(self.failed_files),
        }


@dataclass
class ImportItem:
    name: str  # relative to the argument it came from; for people only
    read: Callable[[], bytes] | None = None
    zip_archive: CheckedZip | None = None
    # Set when the archive was refused before anything in it was read.
    refusal: ZipRefused | None = None


@dataclass
class ImportPlan:
    items: list[ImportItem]
    links_skipped: int = 0

    @property
    def file_count(self) -> int:
        return sum(item.zip_archive.file_count if item.zip_archive else 1 for item in self.items)


def zip_limits() -> ZipLimits:
    return ZipLimits(
        max_entries=settings.MAX_ZIP_ENTRIES,
        max_member_bytes=settings.MAX_UPLOAD_BYTES,
        max_total_bytes=settings.MAX_ZIP_INFLATED_BYTES,
        max_ratio=settings.MAX_ZIP_RATIO,
    )


def plan_import(paths: list[Path], *, limits: ZipLimits) -> ImportPlan:
    """List what will be read and check every ZIP's directory, before anything is ingested."""
    plan = ImportPlan(items=[])
    for argument in paths:
        if argument.is_dir():
            for path in _walk(argument, plan):
                plan.items.append(_item(path, path.relative_to(argument).as_posix(), limits))
        else:
            plan.items.append(_item(argument, argument.name, limits))
    return plan


def run_import(
    plan: ImportPlan,
    *,
    site: Site,
    on_progress: Callable[[int], None] = lambda done: None,
) -> ImportReport:
    """Ingest every planned file; write the run's audit row even when the run is interrupted."""
    report = ImportReport(links_skipped=plan.links_skipped)
    try:
        for name, read, source_detail in _files(plan, report):
            _import_one(name, read, site=site, source_detail=source_detail, report=report)
            report.files += 1
            on_progress(report.files)
    finally:
        record(
            action=AuditAction.INSTANCES_IMPORTED,
            source=AUDIT_SOURCE,
            success=not report.failed_files,
            detail=report.audit_detail(site),
        )
    return report


def display_name(name: str) -> str:
    """A file or entry name made safe for a terminal (no escape sequences, no line breaks)."""
    return "".join("?" if unicodedata.category(char).startswith("C") else char for char in name)


def _walk(folder: Path, plan: ImportPlan) -> Iterator[Path]:
    for directory, subfolders, filenames in os.walk(folder):
        base = Path(directory)
        links = [name for name in subfolders if (base / name).is_symlink()]
        plan.links_skipped += len(links)
        subfolders[:] = sorted(name for name in subfolders if name not in links)
        for filename in sorted(filenames):
            path = base / filename
            # A link could point anywhere on this machine; an export never needs one.
            if path.is_symlink():
                plan.links_skipped += 1
            elif path.is_file():
                yield path


def _item(path: Path, name: str, limits: ZipLimits) -> ImportItem:
    if not _is_zip(path):
        return ImportItem(name=name, read=lambda: _read_file(path))
    try:
        return ImportItem(name=name, zip_archive=CheckedZip(path, limits))
    except ZipRefused as refusal:
        return ImportItem(name=name, refusal=refusal)


def _is_zip(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            head = handle.read(DICOM_PREFIX_OFFSET + 4)
    except OSError:
        return False
    # A DICOM file whose preamble starts like a ZIP (a polyglot) is still read as DICOM.
    return looks_like_zip(head) and head[DICOM_PREFIX_OFFSET:] != b"DICM"


def _read_file(path: Path) -> bytes:
    if path.stat().st_size > settings.MAX_UPLOAD_BYTES:
        raise FileRefused("too_large_file", f"file larger than {settings.MAX_UPLOAD_BYTES} bytes")
    return path.read_bytes()


def _files(plan: ImportPlan, report: ImportReport) -> Iterator[tuple[str, Callable[[], bytes], str]]:
    for item in plan.items:
        if item.refusal is not None:
            yield item.name, _refused_reader(item.refusal), "zip"
        elif item.zip_archive is not None:
            for member in item.zip_archive.members():
                yield (
                    f"{item.name}!{member.name}",
                    _member_reader(member.data, member.problem),
                    "zip",
                )
        elif item.read is not None:
            yield item.name, item.read, "folder"


def _refused_reader(refusal: ZipRefused) -> Callable[[], bytes]:
    def read() -> bytes:
        raise refusal

    return read


def _member_reader(data: bytes, problem: str) -> Callable[[], bytes]:
    def read() -> bytes:
        if problem:
            raise ZipRefused("zip_member_unreadable", problem)
        return data

    return read


def _import_one(
    name: str,
    read: Callable[[], bytes],
    *,
    site: Site,
    source_detail: str,
    report: ImportReport,
) -> None:
    try:
        data = read()
    except (ZipRefused, FileRefused) as refusal:
        report.refuse(name, refusal.code, refusal.message)
        return
    except OSError as exc:
        report.refuse(
            name,
            "unreadable_file",
            f"file cannot be read ({exc.strerror or type(exc).__name__})",
        )
        return
    try:
        result = ingest(data, site=site, source="import", source_detail=source_detail)
    except Exception as exc:  # one broken file must not end the batch
        # Only the class: a database error's message can quote patient identifiers.
        logger.error("import of one file failed: %s", type(exc).__name__)
        report.failed_files.append((name, type(exc).__name__))
        return
    _count(result, name, report)


def _count(result: IngestResult, name: str, report: ImportReport) -> None:
    if result.outcome == "stored":
        report.stored += 1
    elif result.outcome == "already_present":
        report.already_present += 1
    elif result.code == INDEX_FILE_CODE:
        report.index_files_skipped += 1
    else:
        report.refuse(name, result.code, result.reason)
