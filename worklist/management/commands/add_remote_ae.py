from django.core.management.base import BaseCommand, CommandError

from accounts.models import Site
from worklist.models import RemoteAE


class Command(BaseCommand):
    help = "Allow a DICOM sender (its calling AE title) to store to us; what it sends belongs to SITE_CODE."

    def add_arguments(self, parser):
        parser.add_argument("ae_title", help="the sender's calling AE title")
        parser.add_argument("site_code", help="code of the site its studies belong to, e.g. SUWON")
        parser.add_argument("--description", default="", help="free text, e.g. the modality's name")

    def handle(self, *args, ae_title, site_code, description, **options):
        ae_title = ae_title.strip()
        if not 1 <= len(ae_title) <= 16 or "\\" in ae_title:
            raise CommandError("an AE title is 1 to 16 characters without a backslash")
        site = Site.objects.filter(code=site_code).first()
        if site is None:
            known = ", ".join(Site.objects.values_list("code", flat=True)) or "none"
            raise CommandError(f"no site {site_code!r} (known: {known})")
        defaults = {"site": site, "active": True}
        if description:
            defaults["description"] = description
        remote, created = RemoteAE.objects.update_or_create(ae_title=ae_title, defaults=defaults)
        self.stdout.write(f"{'added' if created else 'updated'} {remote.ae_title} -> {site.code}")
