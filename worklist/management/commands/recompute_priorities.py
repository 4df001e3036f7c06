from django.core.management.base import BaseCommand

from worklist.priority import recompute_priorities


class Command(BaseCommand):
    help = "Apply WORKLIST_PRIORITY_ORDER to the studies already waiting (run after changing it)."

    def handle(self, *args, **options):
        count = recompute_priorities()
        self.stdout.write(f"{count} waiting study(ies) changed priority")
