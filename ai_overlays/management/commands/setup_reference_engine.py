from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from ai_overlays.reference_engine.registry import do_register_reference_engine


class Command(BaseCommand):
    help = "Register the built-in reference engine and its models (not for clinical use). Safe to rerun."

    def handle(self, *args, **options):
        engine, models = do_register_reference_engine()
        self.stdout.write(
            _("Reference engine %(engine)s: %(models)d models, %(sites)d sites.")
            % {"engine": engine.name, "models": len(models), "sites": engine.sites.count()}
        )
