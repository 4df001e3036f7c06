"""STOW-RS, Store Instances (PS3.18 10.5): `POST /dicomweb/studies[/{StudyInstanceUID}]` with a
`multipart/related; type="application/dicom"` body, from scripts and AI engines (Bearer token) and
from the upload page (session and CSRF token).

The body is read in two passes. The first checks the whole multipart structure and its caps while
copying the parts to an anonymous temporary file; the second passes each part through ingest. So a
cut, malformed or oversized request stores nothing (400/413) and is safe to send again, and a
request with too many parts is refused before any instance is parsed."""

import tempfile
from collections import Counter
from dataclasses import dataclass, field
from typing import IO, Any

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import BadRequest, PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from rest_framework.exceptions import AuthenticationFailed

from accounts import audit
from accounts.api_auth import HashedTokenAuthentication
from accounts.models import AuditAction, Site, User
from accounts.permissions import check
from dicomkit import multipart
from dicomkit.header import is_valid_uid
from worklist.destination import access_upload_site, ingest_at_site
from worklist.ingest import IngestResult
from worklist.models import Study

# Per request; the upload page sends batches far smaller. Kept below 10,000 (RELIABILITY.md B19).
SPOOL_IN_MEMORY_BYTES = 8 << 20
DICOM_MEDIA_TYPE = "application/dicom"
CANNOT_UNDERSTAND = 0xC000


class StowRefused(Exception):
    """The request as a whole cannot be taken; nothing from it was stored."""

    def __init__(self, code: str, message: str, http_status: int):
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status


@dataclass
class StowOutcome:
    site: Site
    results: list[IngestResult] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(1 for result in self.results if result.outcome == outcome)

    @property
    def http_status(self) -> int:
        """200 all stored (already present counts), 202 some failed, 409 none stored; 503/507
        when nothing was stored because of the archive, so that clients retry later."""
        stored = sum(1 for result in self.results if result.ok)
        if stored == len(self.results):
            return 200
        if stored:
            return 202
        server_errors = [result.http_status for result in self.results if result.http_status >= 500]
        return server_errors[0] if server_errors else 409


@dataclass
class _SpooledPart:
    media_type: str
    offset: int
    length: int


@csrf_exempt  # CSRF is enforced in _authenticate for session requests; a Bearer token is no cookie
@login_not_required  # _authenticate answers 401 itself instead of redirecting to the login page
@require_POST
def store_instances(request: HttpRequest, study_uid: str = "") -> HttpResponse:
    refusal = _authenticate(request)
    if refusal is not None:
        return refusal
    if study_uid and not is_valid_uid(study_uid):
        return _error_response("invalid_uid", "the Study Instance UID in the URL is not a valid UID", 400)
    try:
        check(request, "upload_studies")
        site = access_upload_site(
            request.user,
            request.GET.get("site", ""),
            study_uid=study_uid,
            source=audit.client_address(request),
        )
    except PermissionDenied:
        return _error_response("forbidden", "you may not upload to this site", 403)
    except BadRequest as problem:
        return _error_response("site", str(problem), 400)
    try:
        outcome = receive_instances(
            request,
            content_type=request.META.get("CONTENT_TYPE", ""),
            content_length=request.META.get("CONTENT_LENGTH", ""),
            site=site,
            study_uid=study_uid,
            user=request.user,
            source=audit.client_address(request),
        )
    except StowRefused as problem:
        return _error_response(problem.code, problem.message, problem.http_status)
    if _wants_summary(request):
        return JsonResponse(summary(outcome), status=outcome.http_status)
    return JsonResponse(
        dicom_json(outcome.results),
        status=outcome.http_status,
        content_type="application/dicom+json",
    )


def receive_instances(
    stream: multipart.Readable,
    *,
    content_type: str,
    content_length: str,
    site: Site,
    study_uid: str,
    user: User,
    source: str,
) -> StowOutcome:
    """Store every part of a STOW-RS body at the site, and write the request's one audit row."""
    outcome = StowOutcome(site=site)
    try:
        with tempfile.SpooledTemporaryFile(SPOOL_IN_MEMORY_BYTES, dir=settings.FILE_UPLOAD_TEMP_DIR) as spool:
            parts = _spool_parts(stream, content_type, content_length, spool)
            for part in parts:
                spool.seek(part.offset)
                outcome.results.append(_store_part(spool.read(part.length), part, site, study_uid, user))
    except StowRefused as problem:
        _audit(outcome, user=user, source=source, study_uid=study_uid, error=problem.code)
        raise
    _audit(outcome, user=user, source=source, study_uid=study_uid)
    return outcome


def _spool_parts(
    stream: multipart.Readable, content_type: str, content_length: str, spool: IO[bytes]
) -> list[_SpooledPart]:
    """First pass: check the structure and the caps, copy each part's bytes into the spool."""
    try:
        media_type, parameters = multipart.parse_content_type(content_type)
    except multipart.MultipartError:
        media_type, parameters = "", {}
    if media_type != "multipart/related" or parameters.get("type", "").lower() != DICOM_MEDIA_TYPE:
        raise StowRefused(
            "media_type",
            'the Content-Type must be multipart/related; type="application/dicom"',
            415,
        )
    if content_length.isdigit() and int(content_length) > settings.MAX_UPLOAD_BYTES:
        raise StowRefused(
            "body_too_large",
            f"the body is larger than {settings.MAX_UPLOAD_BYTES} bytes",
            413,
        )
    spooled: list[_SpooledPart] = []
    try:
        boundary = multipart.boundary_of(content_type)
        for part in multipart.read_parts(
            stream,
            boundary,
            max_parts=settings.MAX_STOW_PARTS,
            max_part_bytes=settings.MAX_UPLOAD_BYTES,
            max_body_bytes=settings.MAX_UPLOAD_BYTES,
        ):
            spooled.append(_SpooledPart(part.media_type, spool.tell(), len(part.content)))
            spool.write(part.content)
    except multipart.MultipartError as problem:
        raise StowRefused(problem.code, problem.message, problem.http_status) from None
    if not spooled:
        raise StowRefused("no_parts", "the body holds no instances", 400)
    return spooled


def _store_part(data: bytes, part: _SpooledPart, site: Site, study_uid: str, user: User) -> IngestResult:
    if part.media_type not in ("", DICOM_MEDIA_TYPE):
        return IngestResult(
            outcome="refused",
            code="media_type",
            reason="the part is not application/dicom",
            dimse_status=CANNOT_UNDERSTAND,
            http_status=415,
        )
    return ingest_at_site(
        data,
        site=site,
        source="stow",
        source_detail=user.get_username(),
        study_uid=study_uid,
    )


def _audit(outcome: StowOutcome, *, user: User, source: str, study_uid: str, error: str = "") -> None:
    refused = [(number, result) for number, result in enumerate(outcome.results, 1) if not result.ok]
    studies = {result.study_instance_uid for result in outcome.results if result.ok}
    detail: dict[str, Any] = {
        "via": "stow",
        "site": outcome.site.code,
        "parts": len(outcome.results),
        "stored": outcome.count("stored"),
        "already_present": outcome.count("already_present"),
        "refused": len(refused),
        "refusals": dict(Counter(result.code for _, result in refused)),
        "refused_parts": [
            {"part": number, "code": result.code, "reason": result.reason} for number, result in refused[:50]
        ],
    }
    if error:
        detail["error"] = error
    audited_study = study_uid or (next(iter(studies)) if len(studies) == 1 else "")
    patient = Study.objects.filter(study_instance_uid=audited_study).values_list("patient_id", flat=True).first()
    audit.record(
        action=AuditAction.INSTANCES_IMPORTED,
        user=user,
        source=source,
        study_uid=audited_study,
        patient_ref=patient,
        success=not error and not refused,
        detail=detail,
    )


def dicom_json(results: list[IngestResult]) -> dict[str, Any]:
    """The Store Instances Response Module (PS3.18 Table 10.5.3-1) in DICOM JSON (PS3.18 F.2)."""
    response: dict[str, Any] = {}
    referenced = [_sop_reference(result) for result in results if result.ok]
    failed = [
        {
            **_sop_reference(result),
            "00081197": {"vr": "US", "Value": [result.dimse_status]},
        }
        for result in results
        if not result.ok
    ]
    if failed:
        response["00081198"] = {"vr": "SQ", "Value": failed}  # Failed SOP Sequence
    if referenced:
        response["00081199"] = {
            "vr": "SQ",
            "Value": referenced,
        }  # Referenced SOP Sequence
    return response


def summary(outcome: StowOutcome) -> dict[str, Any]:
    """What the upload page shows: per part, in the order sent, the outcome and the reason."""
    return {
        "site": outcome.site.code,
        "stored": outcome.count("stored"),
        "already_present": outcome.count("already_present"),
        "refused": outcome.count("refused"),
        "instances": [
            {
                "outcome": result.outcome,
                "sop_instance_uid": result.sop_instance_uid,
                "code": result.code,
                "reason": result.reason,
            }
            for result in outcome.results
        ],
    }


def _sop_reference(result: IngestResult) -> dict[str, Any]:
    return {
        "00081150": _uid(result.sop_class_uid),  # Referenced SOP Class UID
        "00081155": _uid(result.sop_instance_uid),  # Referenced SOP Instance UID
    }


def _uid(value: str) -> dict[str, Any]:
    # A part that could not be read has no UIDs: the element is present without a value.
    return {"vr": "UI", "Value": [value]} if value else {"vr": "UI"}


def _authenticate(request: HttpRequest) -> HttpResponse | None:
    """A Bearer token decides alone (cookies ignored, no CSRF); otherwise a session with its CSRF
    token. Answers 401 to anonymous requests and 403 to a session request without CSRF token."""
    if request.META.get("HTTP_AUTHORIZATION"):
        try:
            authenticated = HashedTokenAuthentication().authenticate(request)
        except AuthenticationFailed as failure:
            return _unauthorized(str(failure.detail))
        if authenticated is None:
            return _unauthorized("use an Authorization: Bearer token")
        request.user = authenticated[0]
        return None
    if not request.user.is_authenticated:
        return _unauthorized("authentication required")
    rejection = CsrfViewMiddleware(lambda request: HttpResponse()).process_view(request, None, (), {})
    if rejection is not None:
        audit.record(
            action=AuditAction.ACCESS_DENIED,
            user=request.user,
            source=audit.client_address(request),
            success=False,
            detail={"action": "upload_studies", "reason": "csrf"},
        )
    return rejection


def _unauthorized(message: str) -> HttpResponse:
    response = _error_response("unauthorized", message, 401)
    response["WWW-Authenticate"] = 'Bearer realm="dicomweb"'
    return response


def _error_response(code: str, message: str, status: int) -> JsonResponse:
    response = JsonResponse({"code": code, "message": message}, status=status)
    # PS3.18 8.4.5: a Warning header carries the human-readable reason of a DICOMweb status.
    response["Warning"] = '299 readingws "{}"'.format(message.replace('"', "'"))
    return response


def _wants_summary(request: HttpRequest) -> bool:
    accepted = {item.split(";")[0].strip().lower() for item in request.META.get("HTTP_ACCEPT", "").split(",")}
    return "application/json" in accepted and "application/dicom+json" not in accepted
