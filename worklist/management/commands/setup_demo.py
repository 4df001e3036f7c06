from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils import translation

from worklist import demo_setup

DEFAULT_SAMPLES = Path(settings.BASE_DIR).parent / "shared" / "dicom-samples"


class Command(BaseCommand):
    help = "Create the demo sites, users and studies (idempotent) and print the logins."

    def add_arguments(self, parser):
        parser.add_argument(
            "--scale",
            type=float,
            default=1.0,
            help="image size of generated studies (0.1-1)",
        )
        parser.add_argument(
            "--samples",
            type=Path,
            default=DEFAULT_SAMPLES,
            help="folder of real DICOM samples",
        )
        parser.add_argument("--no-studies", action="store_true", help="sites and users only")

    @translation.override("en")
    def handle(self, *args, scale, samples, no_studies, **options):
        sites = demo_setup.ensure_sites_and_peers()
        users = demo_setup.ensure_demo_users(sites)
        if not no_studies:
            generated = demo_setup.load_generated_studies(sites, scale=scale)
            real = demo_setup.load_sample_studies(sites, samples if samples.is_dir() else None)
            for label, counts in (("generated", generated), ("real samples", real)):
                self.stdout.write(
                    f"{label}: {counts.studies} studies, {counts.stored} instances stored, "
                    f"{counts.already_present} already present, {counts.refused} refused"
                )
        self.stdout.write(f"\nDemo logins (password for all: {demo_setup.DEMO_PASSWORD}):")
        for user in users:
            where = "all sites" if user.all_sites else ", ".join(s.code for s in user.sites.all()) or "-"
            self.stdout.write(f"  {user.username:<12} {user.get_role_display():<18} {where}")
