"""Reading rooms are shared: a session ends after IDLE_TIMEOUT_MINUTES without user activity.

Activity is what a person does: loading or submitting a page, and the pings that static/js/idle.js
sends (at most one a minute) while keys, mouse or wheel are in use, so a radiologist scrolling a
stack already in the GPU stays signed in. Live updates are not activity: the WebSocket never
touches the session, and the htmx refreshes and fetches the pages make by themselves are not
counted, so an open worklist nobody looks at still times out; idle.js then leaves the page, which
takes the patient data off the screen and closes its WebSocket."""

import time

from django.conf import settings
from django.contrib import auth, messages
from django.http import HttpResponse
from django.urls import reverse
from django.utils.translation import gettext as _

LAST_ACTIVITY_KEY = "last_activity"
# Writing the session on every request would cost a database write per click; a quarter of a
# minute of slack in the timeout costs nothing.
WRITE_EVERY_SECONDS = 15


def idle_seconds() -> int:
    return settings.IDLE_TIMEOUT_MINUTES * 60


def counts_as_activity(request) -> bool:
    if request.path == reverse("accounts:activity"):
        return True
    if request.headers.get("HX-Request"):
        return False
    # Browsers mark fetch()/XHR requests "empty", images "image"; a page load or a form "document".
    return request.headers.get("Sec-Fetch-Dest", "document") in ("document", "iframe")


class IdleTimeoutMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            now = time.time()
            last = request.session.get(LAST_ACTIVITY_KEY)
            if last is not None and now - last > idle_seconds():
                return self.sign_out(request)
            if last is None or (now - last >= WRITE_EVERY_SECONDS and counts_as_activity(request)):
                request.session[LAST_ACTIVITY_KEY] = now
        return self.get_response(request)

    def sign_out(self, request):
        auth.logout(request)
        messages.info(
            request,
            _("You were signed out after %(minutes)d minutes without activity.")
            % {"minutes": settings.IDLE_TIMEOUT_MINUTES},
        )
        if request.headers.get("HX-Request"):
            # htmx would swap the login page into a table row; send the whole page there instead.
            response = HttpResponse(status=204)
            response["HX-Redirect"] = reverse(settings.LOGIN_URL)
            return response
        # On from here as a signed-out request: pages go to the login page, APIs answer 401/403.
        return self.get_response(request)


def idle_timeout_context(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"idle_timeout_seconds": idle_seconds()}
