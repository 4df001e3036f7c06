"""Who may fetch pixels and metadata: the JSON API of the viewer and WADO-RS answer fetch() and
other viewers with 401/403/404 JSON, never with a redirect to the login page. A Bearer token
(accounts.api_auth) or a session authenticates; every object is reached through
worklist.access.access_study, which audits a request for another site's study."""

from collections.abc import Callable
from functools import wraps
from inspect import iscoroutinefunction
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import BadRequest, PermissionDenied
from django.http import Http404, HttpRequest, HttpResponseBase, JsonResponse
from django.views.decorators.http import require_safe
from rest_framework.exceptions import AuthenticationFailed

from accounts.api_auth import HashedTokenAuthentication
from accounts.models import User
from worklist.access import access_study
from worklist.models import Instance, Series, Study


class Conflict(Exception):
    """The request no longer matches the state of the object (answered 409)."""


def api_view(view: Callable[..., Any]) -> Callable[..., Any]:
    """A GET endpoint for scripts, sync or async: 401 without credentials, 403/404/400/409 as JSON."""
    if iscoroutinefunction(view):

        @wraps(view)
        async def wrapped_async(request: HttpRequest, *args, **kwargs) -> HttpResponseBase:
            refusal = await sync_to_async(_authenticate)(request)
            if refusal is not None:
                return refusal
            try:
                return await view(request, *args, **kwargs)
            except Exception as exc:
                return _refusal_for(exc)

        # Answers 401 itself: a redirect to the login page is useless to fetch().
        return login_not_required(require_safe(wrapped_async))

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponseBase:
        refusal = _authenticate(request)
        if refusal is not None:
            return refusal
        try:
            return view(request, *args, **kwargs)
        except Exception as exc:
            return _refusal_for(exc)

    return login_not_required(require_safe(wrapped))


def _authenticate(request: HttpRequest) -> JsonResponse | None:
    user, failure = _authenticated_user(request)
    if user is None:
        response = error_response(failure, 401)
        response["WWW-Authenticate"] = 'Bearer realm="readingws"'
        return response
    request.user = user
    return None


def _refusal_for(exc: Exception) -> JsonResponse:
    if isinstance(exc, PermissionDenied):
        return error_response("you may not see this study", 403)
    if isinstance(exc, Http404):
        return error_response(str(exc) or "not found", 404)
    if isinstance(exc, BadRequest):
        return error_response(str(exc), 400)
    if isinstance(exc, Conflict):
        return error_response(str(exc), 409)
    raise exc


def error_response(message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def _authenticated_user(request: HttpRequest) -> tuple[User | None, str]:
    if request.META.get("HTTP_AUTHORIZATION"):
        try:
            authenticated = HashedTokenAuthentication().authenticate(request)
        except AuthenticationFailed as failure:
            return None, str(failure.detail)
        if authenticated is None:
            return None, "use an Authorization: Bearer token"
        return authenticated[0], ""
    if request.user.is_authenticated:
        return request.user, ""
    return None, "authentication required"


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
