"""Approved purposes (개인정보 보호법 §28-2: research, statistics, public-interest archiving) and
the request of an export: an approved purpose and a reason, audited with the cohort definition."""

from django.db import transaction
from django.utils import timezone

from accounts.models import Role, User
from data_platform.models import AccessKind, Cohort, DataAccessEvent, Export, Purpose, PurposeKind, PurposeStatus


class ExportRefused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def propose_purpose(*, kind: str, title: str, description: str, user: User) -> Purpose:
    if kind not in PurposeKind.values:
        raise ExportRefused("bad_kind", "a purpose is research, statistics or public-interest archiving")
    return Purpose.objects.create(kind=kind, title=title.strip()[:200], description=description, requested_by=user)


def decide_purpose(*, purpose: Purpose, approve: bool, user: User) -> Purpose:
    if user.role != Role.ADMIN:
        raise ExportRefused("not_admin", "only an administrator approves purposes")
    with transaction.atomic():
        purpose.status = PurposeStatus.APPROVED if approve else PurposeStatus.REJECTED
        purpose.decided_by, purpose.decided_at = user, timezone.now()
        purpose.save(update_fields=["status", "decided_by", "decided_at"])
        DataAccessEvent.objects.create(
            user=user, kind=AccessKind.PURPOSE_DECIDED, detail={"purpose": purpose.pk, "status": purpose.status}
        )
    return purpose


def request_export(
    *, cohort: Cohort, purpose: Purpose | None, reason: str, user: User, options: dict | None = None
) -> Export:
    """Create the export row (the audit record of purpose, reason and definition) and queue its job."""
    from data_platform.export_job import run_export

    if purpose is None or purpose.status != PurposeStatus.APPROVED:
        _refuse(user, cohort, "purpose_not_approved")
        raise ExportRefused("purpose_not_approved", "an export needs an approved purpose")
    if not reason.strip():
        _refuse(user, cohort, "no_reason")
        raise ExportRefused("no_reason", "an export needs a reason")
    with transaction.atomic():
        export = Export.objects.create(
            cohort=cohort,
            purpose=purpose,
            reason=reason.strip(),
            definition=cohort.definition,
            options=options or {},
            requested_by=user,
        )
        DataAccessEvent.objects.create(
            user=user,
            kind=AccessKind.EXPORT_REQUESTED,
            export=export,
            detail={
                "purpose": purpose.pk,
                "purpose_kind": purpose.kind,
                "reason": export.reason,
                "definition": cohort.definition,
            },
        )
        transaction.on_commit(lambda: run_export.enqueue(export.pk))
    return export


def _refuse(user: User, cohort: Cohort, code: str) -> None:
    DataAccessEvent.objects.create(
        user=user, kind=AccessKind.REFUSED, detail={"what": "export", "code": code, "cohort": cohort.pk}
    )
