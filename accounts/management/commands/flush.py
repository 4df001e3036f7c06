"""Django's flush, which empties every table on purpose, the audit trail included.

PostgreSQL's flush truncates, which the row triggers do not see. On SQLite it deletes, so the
append-only trigger is lifted for this connection alone while it runs (a TEMP table that only
this connection can see; see migration accounts 0005). The test runner resets databases this way."""

from contextlib import contextmanager

from django.core.management.commands import flush
from django.db import connections

PERMIT_TABLE = "audit_flush_permit"


@contextmanager
def audit_flush_permit(connection):
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {PERMIT_TABLE} (granted INTEGER)")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS temp.{PERMIT_TABLE}")


class Command(flush.Command):
    def handle(self, **options):
        with audit_flush_permit(connections[options["database"]]):
            return super().handle(**options)
