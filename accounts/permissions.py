"""Who may do what: one allow table of role x action, checked the same way by pages and APIs."""

from functools import wraps

from django.core.exceptions import PermissionDenied

from accounts import audit
from accounts.models import AuditAction, Role

ALLOW: dict[str, frozenset[str]] = {
    "view_studies": frozenset({Role.RADIOLOGIST, Role.DEPARTMENT_HEAD, Role.ADMIN}),
    "upload_studies": frozenset({Role.RADIOLOGIST, Role.DEPARTMENT_HEAD, Role.ADMIN, Role.AI_ENGINE}),
    "pull_from_pacs": frozenset({Role.RADIOLOGIST, Role.DEPARTMENT_HEAD, Role.ADMIN}),
    "claim_studies": frozenset({Role.RADIOLOGIST, Role.DEPARTMENT_HEAD}),
    "reassign_studies": frozenset({Role.DEPARTMENT_HEAD, Role.ADMIN}),
    "post_ai_results": frozenset({Role.AI_ENGINE}),
    "view_ai_results": frozenset({Role.RADIOLOGIST, Role.DEPARTMENT_HEAD, Role.ADMIN}),
    "manage_ai": frozenset({Role.ADMIN}),
    "manage_users": frozenset({Role.ADMIN}),
    "manage_sites": frozenset({Role.ADMIN}),
    "decide_findings": frozenset({Role.RADIOLOGIST, Role.DEPARTMENT_HEAD}),
    "sign_reports": frozenset({Role.RADIOLOGIST, Role.DEPARTMENT_HEAD}),
    "view_stats": frozenset({Role.RADIOLOGIST, Role.DEPARTMENT_HEAD, Role.ADMIN}),
    # Department heads answer for their readers' access, but see patients as row numbers only.
    "view_audit": frozenset({Role.ADMIN, Role.DEPARTMENT_HEAD}),
    "view_audit_patient_names": frozenset({Role.ADMIN}),
    "build_cohorts": frozenset({Role.DATA_STEWARD}),
    "export_cohorts": frozenset({Role.DATA_STEWARD}),
    "approve_purposes": frozenset({Role.ADMIN}),
}


def can(user, action: str) -> bool:
    return bool(user and user.is_authenticated and user.is_active and user.role in ALLOW[action])


def check(request, action: str) -> None:
    """Raise 403 (and audit the denial) unless the request's user may do the action."""
    if not can(request.user, action):
        audit.record(
            action=AuditAction.ACCESS_DENIED,
            user=request.user,
            source=audit.client_address(request),
            success=False,
            detail={"action": action, "path": request.path[:200]},
        )
        raise PermissionDenied(action)


def requires(action: str):
    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            check(request, action)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
