"""GET endpoints for fetch() and scripts (the viewer's JSON, WADO-RS, the AI overlays): a Bearer token
(accounts.api_auth) or a session authenticates, and every refusal is a JSON body with its status
(401/403/404/400/409), never a redirect to the login page. Here, below reading and ai_overlays, so
both answer alike."""

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
from accounts.permissions import check

SEE_THIS_STUDY = "you may not see this study"


class Conflict(Exception):
    """The request no longer matches the state of the object (answered 409)."""


def api_view(view: Callable[..., Any], *, requires: str = "", forbidden: str = SEE_THIS_STUDY) -> Callable[..., Any]:
    """A GET endpoint, sync or async: 401 without credentials, 403 (with `forbidden` as its message)
    unless the user may do the `requires` action, then 403/404/400/409 as JSON for what the view raises."""
    if iscoroutinefunction(view):

        @wraps(view)
        async def wrapped_async(request: HttpRequest, *args, **kwargs) -> HttpResponseBase:
            refusal = await sync_to_async(_admit)(request, requires, forbidden)
            if refusal is not None:
                return refusal
            try:
                return await view(request, *args, **kwargs)
            except Exception as exc:
                return _refusal_for(exc, forbidden)

        # Answers 401 itself: a redirect to the login page is useless to fetch().
        return login_not_required(require_safe(wrapped_async))

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponseBase:
        refusal = _admit(request, requires, forbidden)
        if refusal is not None:
            return refusal
        try:
            return view(request, *args, **kwargs)
        except Exception as exc:
            return _refusal_for(exc, forbidden)

    return login_not_required(require_safe(wrapped))


def error_response(message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def _admit(request: HttpRequest, requires: str, forbidden: str) -> JsonResponse | None:
    """None when the request may reach the view, else its refusal."""
    user, failure = _authenticated_user(request)
    if user is None:
        response = error_response(failure, 401)
        response["WWW-Authenticate"] = 'Bearer realm="readingws"'
        return response
    request.user = user
    if requires:
        try:
            check(request, requires)  # audits the denial
        except PermissionDenied:
            return error_response(forbidden, 403)
    return None


def _refusal_for(exc: Exception, forbidden: str) -> JsonResponse:
    if isinstance(exc, PermissionDenied):
        return error_response(forbidden, 403)
    if isinstance(exc, Http404):
        return error_response(str(exc) or "not found", 404)
    if isinstance(exc, BadRequest):
        return error_response(str(exc), 400)
    if isinstance(exc, Conflict):
        return error_response(str(exc), 409)
    raise exc


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
