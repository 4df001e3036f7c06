from django.core.management.base import BaseCommand

from worklist.workflow import release_idle_claims


class Command(BaseCommand):
    help = "Release claims left idle longer than CLAIM_IDLE_MINUTES (run from cron every few minutes)."

    def handle(self, *args, **options):
        count = release_idle_claims()
        self.stdout.write(f"released {count} idle claim(s)")
