import argparse
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from worklist.archive_repair import repair_archive
from worklist.dimse import listener


class Command(BaseCommand):
    help = "Receive DICOM objects by C-STORE (and answer C-ECHO) until SIGTERM or SIGINT."

    def add_arguments(self, parser):
        parser.add_argument(
            "--port",
            type=int,
            default=settings.DICOM_PORT,
            help="TCP port (0: any free one)",
        )
        parser.add_argument("--bind", default=settings.DICOM_BIND, help="address to listen on")
        parser.add_argument("--ae-title", default=settings.DICOM_AE_TITLE, help="our (called) AE title")
        parser.add_argument(
            "--processes",
            type=int,
            default=1,
            help="listener processes sharing the port, each serving its associations on a core "
            "of its own (0: one per CPU core)",
        )
        # A process started by another listener: it shares the port and leaves the repair to it.
        parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)

    def handle(self, *args, port, bind, ae_title, processes, worker, **options):
        if not 1 <= len(ae_title) <= 16:
            raise CommandError("the AE title must be 1 to 16 characters")
        processes = processes or len(os.sched_getaffinity(0))
        if processes < 1:
            raise CommandError("--processes must be 0 or more")
        if not worker:
            self.repair()
        stop = threading.Event()
        for signal_number in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signal_number, lambda *_: stop.set())
        server = listener(ae_title=ae_title, bind=bind, port=port, share_port=worker or processes > 1)
        try:
            server.start()
        except OSError as exc:
            raise CommandError(f"cannot listen on {bind}:{port}: {exc}") from None
        if worker:
            stop.wait()
            server.stop()
            return
        manage = str(Path(settings.BASE_DIR) / "manage.py")
        command = [
            sys.executable,
            manage,
            "dicom_listener",
            "--worker",
            "--port",
            str(server.port),
        ]
        workers = WorkerProcesses([*command, "--bind", bind, "--ae-title", ae_title], processes - 1)
        count = f" ({processes} processes)" if processes > 1 else ""
        self.stdout.write(f"listening as {ae_title} on {bind}:{server.port}{count}")
        self.stdout.flush()
        while not stop.wait(1.0):
            for message in workers.restart_exited():
                self.stderr.write(message)
        server.stop()
        workers.stop()
        self.stdout.write("stopped")

    def repair(self) -> None:
        report = repair_archive()
        self.stdout.write(
            f"archive repair: {report.temporary_files_removed} temporary and "
            f"{report.orphan_files_removed} unindexed files removed, "
            f"{report.rows_without_file} rows without a file"
        )


class WorkerProcesses:
    """The other listener processes on the shared port, started, kept running and stopped by the
    first one (stopped by PID: only the processes it started)."""

    def __init__(self, command: list[str], count: int) -> None:
        self.command = command
        self.processes = [subprocess.Popen(command) for _ in range(count)]

    def restart_exited(self) -> list[str]:
        messages = []
        for index, process in enumerate(self.processes):
            if process.poll() is not None:
                messages.append(f"listener process {process.pid} exited with {process.returncode}; restarting it")
                self.processes[index] = subprocess.Popen(self.command)
        return messages

    def stop(self) -> None:
        for process in self.processes:
            process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
