"""The audit trail's hash chain: each row carries the SHA-256 of its own content and of the row
before, so a row edited, inserted or removed in SQL no longer matches its neighbours.

The canonical form below is frozen: changing it would make every stored hash fail verification."""

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from django.db import connection
from django.utils import timezone

from accounts.models import AuditChainHead, AuditEvent

HEAD_ID = 1


def canonical_bytes(
    *,
    at: datetime,
    user_id: int | None,
    username: str,
    action: str,
    success: bool,
    source: str,
    study_uid: str,
    patient_ref: int | None,
    detail: Any,
    prev_hash: str,
) -> bytes:
    content = {
        "at": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "user_id": user_id,
        "username": username,
        "action": action,
        "success": bool(success),
        "source": source,
        "study_uid": study_uid,
        "patient_ref": patient_ref,
        "detail": detail,
        "prev_hash": prev_hash,
    }
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def hash_of(event: AuditEvent) -> str:
    """The hash this row should carry, from the values it holds (or is about to store)."""
    return hashlib.sha256(
        canonical_bytes(
            at=event.at,
            user_id=event.user_id,
            username=event.username,
            action=event.action,
            success=event.success,
            source=event.source,
            study_uid=event.study_uid,
            patient_ref=event.patient_ref,
            # What the database will give back: a tuple comes back a list, and so on.
            detail=json.loads(json.dumps(event.detail)),
            prev_hash=event.prev_hash,
        )
    ).hexdigest()


def lock_head() -> AuditChainHead:
    """The chain head, locked until the caller's transaction ends (PostgreSQL: SELECT ... FOR
    UPDATE; SQLite already serialises writers with BEGIN IMMEDIATE). Must run inside atomic()."""
    head = AuditChainHead.objects.select_for_update().filter(pk=HEAD_ID).first()
    if head is not None:
        return head
    # No head yet (a new or flushed database): start it from the chain's current end. A racing
    # writer's insert wins and this one is ignored; both then lock the same row.
    last = AuditEvent.objects.order_by("-id").values("id", "row_hash").first()
    AuditChainHead.objects.bulk_create(
        [
            AuditChainHead(
                pk=HEAD_ID,
                last_event_id=last["id"] if last else None,
                last_hash=last["row_hash"] if last else "",
            )
        ],
        ignore_conflicts=True,
    )
    return AuditChainHead.objects.select_for_update().get(pk=HEAD_ID)


def append(event: AuditEvent) -> AuditEvent:
    """Chain and insert an unsaved event. Must run inside atomic()."""
    head = lock_head()
    event.at = timezone.now()  # under the lock, so time runs forward along the chain
    event.prev_hash = head.last_hash
    event.row_hash = hash_of(event)
    event.save(force_insert=True)
    head.last_event_id = event.pk
    head.last_hash = event.row_hash
    head.save(update_fields=["last_event_id", "last_hash"])
    return event


# The triggers that refuse UPDATE and DELETE on the audit table (created by migration 0005).
TRIGGER_NAMES = {
    "postgresql": ("accounts_auditevent_append_only",),
    "sqlite": ("accounts_auditevent_no_update", "accounts_auditevent_no_delete"),
}


def guard_triggers_present() -> bool:
    names = TRIGGER_NAMES.get(connection.vendor)
    if names is None:
        return False
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = 'accounts_auditevent'::regclass "
                "AND NOT tgisinternal AND tgenabled <> 'D'"
            )
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'accounts_auditevent'")
        present = {row[0] for row in cursor.fetchall()}
    return set(names) <= present
