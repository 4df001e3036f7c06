"""The handlers for 400/403/404/500 (config/urls.py names them): a generic page, or a problem+json
body for a JSON endpoint; never a traceback or an exception's text."""

from django.http import HttpResponseServerError
from django.shortcuts import render
from django.template import loader
from django.utils.translation import gettext as _

from accounts.problems import problem_response, wants_json


def _error(request, status: int, template: str, detail: str):
    if wants_json(request):
        return problem_response(status, detail)
    return render(request, template, status=status)


def bad_request(request, exception=None):
    return _error(request, 400, "errors/400.html", _("The request could not be understood."))


def permission_denied(request, exception=None):
    return _error(request, 403, "errors/403.html", _("You may not do this."))


def page_not_found(request, exception=None):
    return _error(request, 404, "errors/404.html", _("Nothing is here."))


def server_error(request):
    if wants_json(request):
        return problem_response(500, _("Something went wrong on the server. The error has been logged."))
    # No request context: the error may have come from the database or a context processor.
    return HttpResponseServerError(loader.get_template("errors/500.html").render())
