import datetime as dt

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import Site
from worklist.pacs_pull import PacsError, pull_study, search_pacs

SOURCE = "manage.py pull_from_pacs"


class Command(BaseCommand):
    help = "Pull one study, or every study of a patient, from the configured PACS (DICOMweb)."

    def add_arguments(self, parser: CommandParser) -> None:
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--study", metavar="UID", help="Study Instance UID")
        which.add_argument("--patient-id", metavar="ID", help="every study of this Patient ID")
        parser.add_argument(
            "--since",
            type=dt.date.fromisoformat,
            metavar="YYYY-MM-DD",
            help="with --patient-id: studies from this date",
        )
        parser.add_argument(
            "--site",
            default=settings.PACS_SITE,
            help=f"site the studies belong to (default {settings.PACS_SITE})",
        )

    def handle(
        self,
        *args,
        study: str | None,
        patient_id: str | None,
        since: dt.date | None,
        site: str,
        **options,
    ) -> None:
        if since and not patient_id:
            raise CommandError("--since goes with --patient-id")
        destination = Site.objects.filter(code=site).first()
        if destination is None:
            raise CommandError(f"no site with code {site!r}")
        try:
            if study:
                study_uids = [study]
            else:
                matches = search_pacs(
                    patient_id=patient_id or "",
                    study_date_range=(since, None),
                    source=SOURCE,
                )
                study_uids = [match.study_instance_uid for match in matches]
                self.stdout.write(f"{len(study_uids)} studies found on the PACS")
            failed = 0
            for study_uid in study_uids:
                failed += not self._pull(study_uid, destination)
        except PacsError as problem:
            raise CommandError(problem.message) from None
        if failed:
            raise CommandError(f"{failed} of {len(study_uids)} studies could not be pulled completely")

    def _pull(self, study_uid: str, site: Site) -> bool:
        try:
            result = pull_study(study_uid, site=site, source=SOURCE)
        except PacsError as problem:
            if problem.code in ("not_configured", "unreachable"):
                raise
            self.stderr.write(f"{study_uid}: {problem.message}")
            return False
        line = (
            f"{study_uid}: {result.stored} stored, {result.already_present} already present, {result.refused} refused"
        )
        if result.expected is not None and result.expected != result.received:
            line += f"; the PACS listed {result.expected}"
        if result.refusals:
            line += " (" + ", ".join(f"{code}: {count}" for code, count in sorted(result.refusals.items())) + ")"
        self.stdout.write(line)
        return not result.refused and result.expected in (None, result.received)
