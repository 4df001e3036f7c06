"""manage.py import_dicom PATH... --site CODE: import folders (recursively), DICOM files and ZIP
archives (also ZIPs found inside the folders) for one site, then print what was stored, what was
already there and what was refused, grouped by reason."""

import logging
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, OutputWrapper

from accounts.models import Site
from worklist.bulk_import import (
    ImportReport,
    display_name,
    plan_import,
    run_import,
    zip_limits,
)

PROGRESS_WIDTH = 30
PROGRESS_INTERVAL_SECONDS = 0.1
# pydicom logs each decoder failure with a traceback; the pixel check records it on the row.
QUIETED_LOGGERS = {
    "worklist.ingest": logging.ERROR,
    "worklist.pixel_checks": logging.ERROR,
    "django.tasks": logging.ERROR,
    "pydicom": logging.CRITICAL,
}


class Command(BaseCommand):
    help = "Import DICOM files, folders and ZIP archives on this machine for one site."

    def add_arguments(self, parser) -> None:
        parser.add_argument("paths", nargs="+", type=Path, help="files, folders or ZIP archives")
        parser.add_argument("--site", required=True, help="site code, e.g. SUWON")
        parser.add_argument("--quiet", action="store_true", help="no progress bar")
        parser.add_argument("--verbose", action="store_true", help="list each refused file")

    def handle(self, *args, paths: list[Path], site: str, quiet: bool, verbose: bool, **options) -> None:
        site_row = Site.objects.filter(code=site).first()
        if site_row is None:
            known = ", ".join(Site.objects.order_by("code").values_list("code", flat=True)) or "none"
            raise CommandError(f"unknown site {site!r} (known: {known})")
        missing = [str(path) for path in paths if not path.exists()]
        if missing:
            raise CommandError(f"not found: {', '.join(missing)}")

        started = time.monotonic()
        plan = plan_import([path.resolve() for path in paths], limits=zip_limits())
        progress = ProgressBar(
            self.stderr,
            total=plan.file_count,
            enabled=not quiet and self.stderr.isatty(),
        )
        with _quieted(QUIETED_LOGGERS):
            try:
                report = run_import(plan, site=site_row, on_progress=progress.update)
            finally:
                progress.finish()
        self._summary(
            report,
            site=site_row.code,
            seconds=time.monotonic() - started,
            verbose=verbose,
        )
        if report.failed_files:
            raise CommandError(f"{len(report.failed_files)} files failed with an unexpected error (see the log)")

    def _summary(self, report: ImportReport, *, site: str, seconds: float, verbose: bool) -> None:
        write = self.stdout.write
        write(f"Imported {report.files} files for {site} in {seconds:.1f} s")
        write(f"  stored            {report.stored:6d}")
        write(f"  already present   {report.already_present:6d}")
        if report.index_files_skipped:
            write(f"  skipped           {report.index_files_skipped:6d}  DICOMDIR index files (their folders are read)")
        if report.links_skipped:
            write(f"  skipped           {report.links_skipped:6d}  symbolic links (not followed)")
        write(f"  refused           {report.refused:6d}")
        for code, count in report.refused_by_code.most_common():
            write(f"    {count:6d}  {code}: {report.reason_for_code[code]}")
            if verbose:
                for name, refused_code, reason in report.refused_files:
                    if refused_code == code:
                        write(f"              {display_name(name)}: {reason}")
        if report.failed_files:
            write(self.style.ERROR(f"  failed            {len(report.failed_files):6d}  unexpected errors"))
            for name, error in report.failed_files if verbose else []:
                write(f"              {display_name(name)}: {error}")


class ProgressBar:
    """One line on stderr redrawn in place, at most ten times a second; only on a terminal."""

    def __init__(self, stream: OutputWrapper, *, total: int, enabled: bool):
        self.stream = stream
        self.total = max(total, 1)
        self.enabled = enabled
        self.drawn_at = 0.0

    def update(self, done: int) -> None:
        now = time.monotonic()
        if not self.enabled or (now - self.drawn_at < PROGRESS_INTERVAL_SECONDS and done < self.total):
            return
        self.drawn_at = now
        filled = min(PROGRESS_WIDTH, PROGRESS_WIDTH * done // self.total)
        bar = "#" * filled + "-" * (PROGRESS_WIDTH - filled)
        self.stream.write(f"\r[{bar}] {done}/{self.total} files", style_func=str, ending="")
        self.stream.flush()

    def finish(self) -> None:
        if self.enabled:
            self.stream.write("\r" + " " * (PROGRESS_WIDTH + 40) + "\r", style_func=str, ending="")
            self.stream.flush()


@contextmanager
def _quieted(levels: dict[str, int]) -> Iterator[None]:
    """Per-file log lines and pydicom's warnings about odd values would tear the progress bar;
    the summary says what matters. Errors still reach the log."""
    saved = {name: logging.getLogger(name).level for name in levels}
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)
