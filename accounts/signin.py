"""The sign-in between a correct password and a full session: a user who must pass the second
factor is held as "pending" in the (anonymous) session until the TOTP step, so no signed-in
session, page or WebSocket ever exists for a half-authenticated user."""

import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib import auth
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django_otp import login as otp_login
from django_otp.models import Device

from accounts import audit
from accounts.models import AuditAction, User

PENDING_KEY = "signin_pending"
# Time to open the authenticator and type a code; wrong codes before the password is asked again.
PENDING_SECONDS = 300
MAX_TOKEN_FAILURES = 5


@dataclass
class PendingSignIn:
    user: User
    backend: str
    next_url: str
    failures: int


def hold(request: HttpRequest, *, user: User, next_url: str) -> None:
    """Remember who passed the password step; the session id changes here and again at login."""
    request.session.cycle_key()
    request.session[PENDING_KEY] = {
        "user": user.pk,
        "backend": user.backend,
        "next": next_url,
        "since": time.time(),
        "failures": 0,
    }


def pending(request: HttpRequest) -> PendingSignIn | None:
    state = request.session.get(PENDING_KEY)
    if not state or time.time() - state["since"] > PENDING_SECONDS:
        return None
    user = User.objects.filter(pk=state["user"], is_active=True).first()
    if user is None:
        return None
    return PendingSignIn(user=user, backend=state["backend"], next_url=state["next"], failures=state["failures"])


def count_wrong_token(request: HttpRequest, held: PendingSignIn) -> bool:
    """Audit a wrong code; True when the pending sign-in is used up and the password is asked again."""
    audit.record(
        action=AuditAction.LOGIN_FAILED,
        source=audit.client_address(request),
        success=False,
        detail={"step": "second_factor"},
    )
    if held.failures + 1 >= MAX_TOKEN_FAILURES:
        request.session.pop(PENDING_KEY, None)
        return True
    request.session[PENDING_KEY] = {**request.session[PENDING_KEY], "failures": held.failures + 1}
    return False


def complete(
    request: HttpRequest, *, user: User, backend: str, device: Device | None = None, detail: dict | None = None
) -> None:
    """The full sign-in: Django's login() gives the session a new id; the audit row follows it."""
    request.session.pop(PENDING_KEY, None)
    auth.login(request, user, backend=backend)
    if device is not None:
        otp_login(request, device)
    audit.record(action=AuditAction.LOGIN, user=user, source=audit.client_address(request), detail=detail)


def client_description(username, ip_address, user_agent, path_info, request) -> str:
    """django-axes' client string for its log lines: without the attempted username (it may be a
    mistyped patient name or ID) and without the user agent."""
    return f"{{ip_address: {ip_address!r}, path_info: {path_info!r}}}"


def lockout_response(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """django-axes' answer to a locked-out username and address: the page says how long to wait."""
    context = {
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "cooloff_minutes": int(settings.AXES_COOLOFF_TIME.total_seconds() // 60),
    }
    return render(request, "accounts/locked_out.html", context, status=429)
