import logging
import signal
import threading

from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections

from ai_overlays.dispatch import sweep

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Send stable studies to the AI engines and retry failed sends: one sweep with --once, "
        "otherwise a sweep every --interval seconds until SIGTERM or SIGINT."
    )

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="one sweep, then exit")
        parser.add_argument("--interval", type=float, default=5.0, help="seconds between sweeps (default 5)")

    def handle(self, *args, once, interval, **options):
        if interval <= 0:
            raise CommandError("--interval must be more than 0 seconds")
        if once:
            self.report(sweep(), always=True)
            return
        stop = threading.Event()
        previous = {number: signal.signal(number, lambda *_: stop.set()) for number in (signal.SIGTERM, signal.SIGINT)}
        self.stdout.write(f"AI dispatcher sweeping every {interval:g} s")
        self.stdout.flush()
        try:
            while not stop.is_set():
                # A database restart or a dropped connection costs one sweep, not the dispatcher.
                close_old_connections()
                try:
                    self.report(sweep())
                except Exception:
                    logger.exception("AI dispatcher sweep failed")
                stop.wait(interval)
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)
        self.stdout.write("stopped")

    def report(self, report, *, always: bool = False) -> None:
        if always or report.studies or report.retried:
            self.stdout.write(f"{report.studies} study(ies) sent, {report.retried} job(s) retried")
            self.stdout.flush()
