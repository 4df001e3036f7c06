"""manage.py archive_check [--repair] [--older-than SECONDS]: compare the archive folder with the
index and report temporary files, files no row points to and rows whose file is missing; with
--repair, remove the first two (rows without a file need the instance sent again)."""

from django.core.management.base import BaseCommand, CommandError

from worklist.archive_repair import find_problems, repair_archive

DEFAULT_AGE_SECONDS = 600
LISTED_ROWS = 20


class Command(BaseCommand):
    help = "Check that every archive file has an index row and every row has its file."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--repair",
            action="store_true",
            help="remove stale temporary and orphan files",
        )
        parser.add_argument(
            "--older-than",
            type=float,
            default=DEFAULT_AGE_SECONDS,
            metavar="SECONDS",
            help=f"only files untouched this long (default {DEFAULT_AGE_SECONDS}); younger ones may "
            "belong to an ingest in progress",
        )

    def handle(self, *args, repair: bool, older_than: float, **options) -> None:
        if older_than < 0:
            raise CommandError("--older-than must not be negative")
        problems = find_problems(older_than_seconds=older_than)
        write = self.stdout.write
        write(f"temporary files      {len(problems.temporary_files):6d}")
        write(f"orphan files         {len(problems.orphan_keys):6d}  (no index row)")
        write(f"rows without file    {len(problems.rows_without_file):6d}")
        for instance_id in problems.rows_without_file[:LISTED_ROWS]:
            write(f"  instance {instance_id}: file missing, send the instance again")
        if repair:
            report = repair_archive(older_than_seconds=older_than)
            write(
                self.style.SUCCESS(
                    f"removed {report.temporary_files_removed} temporary and {report.orphan_files_removed} orphan files"
                )
            )
            if report.rows_without_file:
                raise CommandError(f"{report.rows_without_file} rows have no file")
        elif problems.temporary_files or problems.orphan_keys or problems.rows_without_file:
            raise CommandError("the archive and the index disagree (run with --repair to clean up files)")
