"""Reaching a series or an instance for the pixel endpoints (the viewer's JSON API and WADO-RS):
each is reached through its study with worklist.access.access_study, which audits a request for
another site's study. How those endpoints authenticate and refuse lives in worklist.json_api."""

from django.http import Http404

from accounts.models import User
from worklist.access import access_study
from worklist.models import Instance, Series, Study


def access_series(user: User, series_uid: str, *, source: str, study_uid: str = "") -> tuple[Study, Series]:
    """The series and its study if the user may see the study; 404 for an unknown series or one
    that is not in `study_uid` when given."""
    series = Series.objects.filter(series_instance_uid=series_uid).select_related("study").first()
    if series is None or (study_uid and series.study.study_instance_uid != study_uid):
        raise Http404("No such series")
    study = access_study(user, series.study.study_instance_uid, source=source)
    return study, series


def access_instance(
    user: User, sop_uid: str, *, source: str, study_uid: str = "", series_uid: str = ""
) -> tuple[Study, Instance]:
    """The instance and its study if the user may see the study; 404 for an unknown instance or
    one that is not in the series or study given."""
    instance = Instance.objects.filter(sop_instance_uid=sop_uid).select_related("series__study").first()
    if (
        instance is None
        or (series_uid and instance.series.series_instance_uid != series_uid)
        or (study_uid and instance.series.study.study_instance_uid != study_uid)
    ):
        raise Http404("No such instance")
    study = access_study(user, instance.series.study.study_instance_uid, source=source)
    return study, instance
