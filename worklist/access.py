"""Fetching patient data with the permission check: a radiologist sees only their sites' studies."""

from django.db.models import QuerySet
from django.http import Http404

from accounts.models import User
from accounts.permissions import can
from worklist.models import Study


def visible_studies(user: User) -> QuerySet[Study]:
    if not can(user, "view_studies"):
        return Study.objects.none()
    studies = Study.objects.all()
    site_ids = user.site_ids()
    return studies if site_ids is None else studies.filter(site_id__in=site_ids)


def access_study(user: User, study_instance_uid: str) -> Study:
    """The study if this user may see it; 404 otherwise, so other sites' studies stay unknown."""
    study = visible_studies(user).select_related("patient", "site").filter(study_instance_uid=study_instance_uid).first()
    if study is None:
        raise Http404("No such study")
    return study
