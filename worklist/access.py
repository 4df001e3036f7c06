"""Fetching patient data with the permission check: a radiologist sees only their sites' studies."""

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from accounts import audit
from accounts.models import AuditAction, User
from accounts.permissions import can
from worklist.models import Study


def visible_studies(user: User) -> QuerySet[Study]:
    if not can(user, "view_studies"):
        return Study.objects.none()
    studies = Study.objects.all()
    site_ids = user.site_ids()
    return studies if site_ids is None else studies.filter(site_id__in=site_ids)


def access_study(user: User, study_instance_uid: str, *, source: str = "") -> Study:
    """The study if this user may see it. An unknown UID is a 404; a study of another site is a
    403, audited as a security alert (a UID is not guessable, so asking for one is no accident)."""
    study = (
        visible_studies(user).select_related("patient", "site").filter(study_instance_uid=study_instance_uid).first()
    )
    if study is not None:
        return study
    existing = Study.objects.filter(study_instance_uid=study_instance_uid).values_list("patient_id", flat=True).first()
    if existing is None:
        raise Http404("No such study")
    audit.record(
        action=AuditAction.ACCESS_DENIED,
        user=user,
        source=source,
        study_uid=study_instance_uid,
        patient_ref=existing,
        success=False,
    )
    raise PermissionDenied("This study belongs to a site you are not a member of.")
