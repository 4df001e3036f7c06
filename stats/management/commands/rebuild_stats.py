from django.core.management.base import BaseCommand

from stats.rollups import rebuild


class Command(BaseCommand):
    help = "Recompute the agreement statistics tables from the decisions, reports and AI results."

    def handle(self, *args, **options):
        for table, rows in rebuild().items():
            self.stdout.write(f"{table}: {rows} rows")
