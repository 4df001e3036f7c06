"""Crash points for the crash-recovery tests: with INGEST_FAULT_AT=<name> the process dies at that
point the way a power cut or SIGKILL would (no cleanup, no exception handlers)."""

import os

FAULT_EXIT_STATUS = 137


def fault_point(name: str) -> None:
    """Crash here when the fault-injection tests ask for it (INGEST_FAULT_AT=name)."""
    if os.environ.get("INGEST_FAULT_AT") == name:
        os._exit(FAULT_EXIT_STATUS)
