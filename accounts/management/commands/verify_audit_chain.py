from django.core.management.base import BaseCommand, CommandError

from accounts.audit_verify import verify_chain


class Command(BaseCommand):
    help = "Check the audit trail's hash chain and report the first row that breaks it."

    def handle(self, **options):
        report = verify_chain()
        if not report.guarded:
            self.stderr.write("Warning: the append-only triggers on the audit table are missing or disabled.")
        if report.first_break is not None:
            broken = report.first_break
            raise CommandError(f"Audit chain broken at row {broken.event_id}: {broken.reason}.")
        self.stdout.write(f"Audit chain intact: {report.checked} rows.")
