"""The audit trail: one call per audited action, in the transaction of the action itself, so an
action that could not be audited does not happen. Rows are chained by hash (accounts.audit_chain)
and the database refuses to update or delete them (migration 0005)."""

from typing import Any

from django.db import transaction
from django.http import HttpRequest

from accounts import audit_chain
from accounts.models import AuditAction, AuditEvent, User


def client_address(request: HttpRequest | None) -> str:
    if request is None:
        return ""
    return request.META.get("REMOTE_ADDR", "")[:128]


def record(
    *,
    action: AuditAction,
    user: User | None = None,
    source: str = "",
    study_uid: str = "",
    patient_ref: int | None = None,
    success: bool = True,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    authenticated = user is not None and user.is_authenticated
    event = AuditEvent(
        action=action,
        user=user if authenticated else None,
        username=user.get_username() if authenticated else "",
        source=source[:128],
        study_uid=study_uid,
        patient_ref=patient_ref,
        success=success,
        detail=detail or {},
    )
    # No savepoint of its own: a row that cannot be written fails the action's transaction.
    with transaction.atomic(savepoint=False):
        return audit_chain.append(event)
