"""Bring the archive folder and the index back into agreement after a crash: an ingest killed
between the rename and the commit leaves a file no row points to, and a temporary file."""

import time
from dataclasses import dataclass, field
from pathlib import Path

from worklist import archive_files
from worklist.models import Instance

CHUNK = 1000


@dataclass
class ArchiveProblems:
    temporary_files: list[Path] = field(default_factory=list)
    orphan_keys: list[str] = field(default_factory=list)
    # Rows whose file is gone cannot be repaired here: the sender has to send the instance again.
    rows_without_file: list[int] = field(default_factory=list)


@dataclass
class RepairReport:
    temporary_files_removed: int = 0
    orphan_files_removed: int = 0
    rows_without_file: int = 0


def find_problems(*, older_than_seconds: float = 600) -> ArchiveProblems:
    """Temporary and unindexed files older than the given age (younger ones may belong to an
    ingest in progress) and the ids of rows whose file is missing."""
    problems = ArchiveProblems(temporary_files=archive_files.stale_temporary_files(older_than_seconds))
    keys = archive_files.stored_keys(older_than_seconds)
    indexed: set[str] = set()
    for start in range(0, len(keys), CHUNK):
        chunk = keys[start : start + CHUNK]
        indexed.update(Instance.objects.filter(file_key__in=chunk).values_list("file_key", flat=True))
    problems.orphan_keys = [key for key in keys if key not in indexed]
    for instance_id, key in Instance.objects.values_list("id", "file_key").iterator(chunk_size=2000):
        if not archive_files.path_of(key).exists():
            problems.rows_without_file.append(instance_id)
    return problems


def repair_archive(*, older_than_seconds: float = 600) -> RepairReport:
    """Remove stale temporary and unindexed files; count rows whose file is missing."""
    problems = find_problems(older_than_seconds=older_than_seconds)
    report = RepairReport(rows_without_file=len(problems.rows_without_file))
    for path in problems.temporary_files:
        path.unlink(missing_ok=True)
        report.temporary_files_removed += 1
    cutoff = time.time() - older_than_seconds
    for key in problems.orphan_keys:
        # An ingest of the same bytes touches the file before it commits its row: look again.
        if _touched_since(key, cutoff) or Instance.objects.filter(file_key=key).exists():
            continue
        archive_files.remove(key)
        report.orphan_files_removed += 1
    return report


def _touched_since(key: str, cutoff: float) -> bool:
    try:
        return archive_files.path_of(key).stat().st_mtime > cutoff
    except FileNotFoundError:
        return False
