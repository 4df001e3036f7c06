"""The audit trail made tamper-evident: hash-chain fields, the chain head, the existing rows
chained in id order, and triggers that refuse UPDATE and DELETE on the audit table."""

import hashlib

import django.utils.timezone
from django.db import migrations, models

from accounts.audit_chain import canonical_bytes

POSTGRESQL_GUARD = """
CREATE OR REPLACE FUNCTION accounts_auditevent_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER accounts_auditevent_append_only
    BEFORE UPDATE OR DELETE ON accounts_auditevent
    FOR EACH ROW EXECUTE FUNCTION accounts_auditevent_refuse_change();
"""
POSTGRESQL_UNGUARD = """
DROP TRIGGER IF EXISTS accounts_auditevent_append_only ON accounts_auditevent;
DROP FUNCTION IF EXISTS accounts_auditevent_refuse_change();
"""
# SQLite has no roles: the triggers guard against the application's own mistakes. manage.py flush
# (the test runner's reset) lifts the DELETE guard for its own connection only, through a TEMP
# table that no other connection can see (accounts/management/commands/flush.py).
SQLITE_GUARD = [
    """CREATE TRIGGER accounts_auditevent_no_update BEFORE UPDATE ON accounts_auditevent
    BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: UPDATE refused'); END""",
    """CREATE TRIGGER accounts_auditevent_no_delete BEFORE DELETE ON accounts_auditevent
    WHEN (SELECT count(*) FROM pragma_table_list WHERE schema = 'temp' AND name = 'audit_flush_permit') = 0
    BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: DELETE refused'); END""",
]
SQLITE_UNGUARD = [
    "DROP TRIGGER IF EXISTS accounts_auditevent_no_update",
    "DROP TRIGGER IF EXISTS accounts_auditevent_no_delete",
]


def chain_existing_rows(apps, schema_editor):
    AuditEvent = apps.get_model("accounts", "AuditEvent")
    AuditChainHead = apps.get_model("accounts", "AuditChainHead")
    prev_hash, last_id = "", None
    for event in AuditEvent.objects.order_by("id").iterator(chunk_size=2000):
        row_hash = hashlib.sha256(
            canonical_bytes(
                at=event.at,
                user_id=event.user_id,
                username=event.username,
                action=event.action,
                success=event.success,
                source=event.source,
                study_uid=event.study_uid,
                patient_ref=event.patient_ref,
                detail=event.detail,
                prev_hash=prev_hash,
            )
        ).hexdigest()
        AuditEvent.objects.filter(pk=event.pk).update(prev_hash=prev_hash, row_hash=row_hash)
        prev_hash, last_id = row_hash, event.pk
    AuditChainHead.objects.create(pk=1, last_event_id=last_id, last_hash=prev_hash)


def guard(apps, schema_editor):
    run(schema_editor, POSTGRESQL_GUARD, SQLITE_GUARD)


def unguard(apps, schema_editor):
    run(schema_editor, POSTGRESQL_UNGUARD, SQLITE_UNGUARD)


def run(schema_editor, postgresql: str, sqlite: list[str]) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(postgresql, params=None)
    elif vendor == "sqlite":
        for statement in sqlite:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_invitations"),
    ]

    operations = [
        migrations.AlterField(
            model_name="auditevent",
            name="at",
            field=models.DateTimeField(db_index=True, default=django.utils.timezone.now, editable=False),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="prev_hash",
            field=models.CharField(blank=True, editable=False, max_length=64),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="row_hash",
            field=models.CharField(blank=True, editable=False, max_length=64),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="action",
            field=models.CharField(
                choices=[
                    ("login", "Login"),
                    ("login_failed", "Failed login"),
                    ("logout", "Logout"),
                    ("study_viewed", "Study viewed"),
                    ("study_list_viewed", "Study list viewed"),
                    ("instances_imported", "Instances imported"),
                    ("instance_refused", "Instance refused"),
                    ("pacs_queried", "PACS queried"),
                    ("access_denied", "Access denied"),
                    ("association_refused", "DICOM association refused"),
                    ("study_status_changed", "Study status changed"),
                    ("study_claimed", "Study claimed"),
                    ("study_released", "Study released"),
                    ("study_reassigned", "Study reassigned"),
                    ("ai_result_received", "AI result received"),
                    ("ai_results_viewed", "AI results viewed"),
                    ("finding_decided", "AI finding decided"),
                    ("finding_added", "Finding added by the reader"),
                    ("report_viewed", "Report viewed"),
                    ("report_saved", "Report saved"),
                    ("report_signed", "Report signed"),
                    ("addendum_added", "Addendum added"),
                    ("report_sent", "Report sent to the PACS"),
                    ("account_changed", "Account or configuration changed"),
                    ("audit_log_viewed", "Audit log viewed"),
                ],
                db_index=True,
                max_length=40,
            ),
        ),
        migrations.CreateModel(
            name="AuditChainHead",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("last_event_id", models.BigIntegerField(blank=True, null=True)),
                ("last_hash", models.CharField(blank=True, max_length=64)),
            ],
            options={"verbose_name": "audit chain head"},
        ),
        migrations.RunPython(chain_existing_rows, migrations.RunPython.noop),
        migrations.RunPython(guard, unguard),
    ]
