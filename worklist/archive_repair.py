"""Bring the archive folder and the index back into agreement after a crash: an ingest killed
between the rename and the commit leaves a file no row points to, and a temporary file."""

from dataclasses import dataclass

from worklist import archive_files
from worklist.models import Instance


@dataclass
class RepairReport:
    temporary_files_removed: int = 0
    orphan_files_removed: int = 0
    rows_without_file: int = 0


def repair_archive(*, older_than_seconds: float = 600) -> RepairReport:
    """Remove temporary and unindexed files older than the given age (younger ones may belong to
    an ingest in progress) and count rows whose file is missing."""
    report = RepairReport()
    for path in archive_files.stale_temporary_files(older_than_seconds):
        path.unlink(missing_ok=True)
        report.temporary_files_removed += 1
    keys = archive_files.stored_keys(older_than_seconds)
    indexed = set()
    for start in range(0, len(keys), 1000):
        chunk = keys[start : start + 1000]
        indexed.update(Instance.objects.filter(file_key__in=chunk).values_list("file_key", flat=True))
    for key in keys:
        if key not in indexed:
            archive_files.remove(key)
            report.orphan_files_removed += 1
    for key in Instance.objects.values_list("file_key", flat=True).iterator(chunk_size=2000):
        if not archive_files.path_of(key).exists():
            report.rows_without_file += 1
    return report
