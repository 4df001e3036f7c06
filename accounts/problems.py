"""Errors as RFC 9457 problem details (application/problem+json): for the REST API through DRF's
exception handler, and for every JSON endpoint's 4xx/5xx through the error handlers. Never a
traceback, never the exception's text for a 500."""

from http import HTTPStatus

from django.http import HttpRequest, JsonResponse
from rest_framework.views import exception_handler

PROBLEM_JSON = "application/problem+json"
# Paths that answer JSON (the REST API, the viewer's JSON and pixel endpoints, DICOMweb).
JSON_PATH_PREFIXES = ("/api/", "/ai/api/", "/ai/viewer/", "/reading/api/", "/dicomweb/")


def wants_json(request: HttpRequest) -> bool:
    if request.path.startswith(JSON_PATH_PREFIXES):
        return True
    accept = request.headers.get("Accept", "")
    return "json" in accept and "text/html" not in accept


def problem_body(status: int, detail: str = "", **extensions) -> dict:
    body = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status}
    if detail:
        body["detail"] = detail
    return {**body, **extensions}


def problem_response(status: int, detail: str = "", **extensions) -> JsonResponse:
    return JsonResponse(problem_body(status, detail, **extensions), status=status, content_type=PROBLEM_JSON)


def api_exception_handler(exc, context):
    """DRF's own handling (status, WWW-Authenticate, Retry-After), its body reshaped as a problem.
    Field errors of a ValidationError stay under "errors"; anything unhandled goes on to the 500
    handler, which answers with a problem too."""
    response = exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    if isinstance(data, dict) and set(data) <= {"detail", "code"} and "detail" in data:
        body = problem_body(response.status_code, str(data["detail"]))
    else:
        body = problem_body(response.status_code, HTTPStatus(response.status_code).description, errors=data)
    response.data = body
    response.content_type = PROBLEM_JSON
    return response
