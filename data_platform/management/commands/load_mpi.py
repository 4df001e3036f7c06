from django.core.management.base import BaseCommand, CommandError

from data_platform.mpi import MpiError, load_csv


class Command(BaseCommand):
    help = "Load the master patient index from a hospital CSV (site, patient_id, person_key or name/birth_date/sex)."

    def add_arguments(self, parser):
        parser.add_argument("file")

    def handle(self, *args, **options):
        try:
            with open(options["file"], encoding="utf-8-sig") as handle:
                summary = load_csv(handle.read())
        except (OSError, MpiError) as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"linked {summary.linked}, unchanged {summary.unchanged}")
