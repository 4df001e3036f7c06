"""Pulling studies from the configured PACS over DICOMweb (PS3.18): QIDO-RS through dicomweb-client
to search, WADO-RS to retrieve a study, every instance through ingest at the PACS's site.

Searches use IDs, dates and modality, never the patient's name: Orthanc 1.10 does not decode the
`^` and `*` that dicomweb-client encodes, so a name search finds nothing. Instances are retrieved
with `transfer-syntax=*` and read with our multipart reader, not dicomweb-client's retrieve methods:
those decode each instance into a pydicom Dataset, and writing one back changes the bytes of some
real files (7 % of the shared samples), which would turn a later copy of the same instance into a
conflict. Any failure of the PACS becomes a PacsError with a message for people."""

import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from dicomweb_client import DICOMwebClient
from dicomweb_client.session_utils import create_session, create_session_from_user_pass
from django.conf import settings

from accounts import audit
from accounts.models import AuditAction, Site, User
from dicomkit import multipart
from dicomkit.header import is_valid_uid
from worklist.destination import ingest_at_site
from worklist.models import Study

logger = logging.getLogger(__name__)

TIMEOUT = (5, 120)  # seconds to connect, seconds between bytes
MAX_RESULTS = 200
MAX_INSTANCES = 100_000  # per study pulled
RETRIEVE_ACCEPT = 'multipart/related; type="application/dicom"; transfer-syntax=*'
STUDY_FIELDS = [
    "StudyInstanceUID",
    "PatientID",
    "PatientName",
    "StudyDate",
    "AccessionNumber",
    "ModalitiesInStudy",
    "StudyDescription",
    "NumberOfStudyRelatedInstances",
]


class PacsError(Exception):
    """The PACS could not answer as asked; `message` is safe to show (no PHI, no credentials)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class PacsStudy:
    study_instance_uid: str
    patient_id: str
    patient_name: str
    study_date: dt.date | None
    accession_number: str
    modalities: str
    description: str
    instance_count: int | None


@dataclass
class PullResult:
    study_instance_uid: str
    expected: int | None = None
    stored: int = 0
    already_present: int = 0
    refused: int = 0
    refusals: Counter[str] = field(default_factory=Counter)

    @property
    def received(self) -> int:
        return self.stored + self.already_present + self.refused


def search_pacs(
    *,
    patient_id: str = "",
    study_date_range: tuple[dt.date | None, dt.date | None] | None = None,
    accession: str = "",
    modality: str = "",
    limit: int = MAX_RESULTS,
    user: User | None = None,
    source: str = "",
) -> list[PacsStudy]:
    """QIDO-RS studies matching every criterion given; at least one is needed."""
    filters = _search_filters(patient_id, study_date_range, accession, modality)
    if not filters:
        raise PacsError(
            "no_criteria",
            "give a patient ID, a date range, an accession number or a modality",
        )
    answers = _query(lambda client: client.search_for_studies(search_filters=filters, fields=STUDY_FIELDS, limit=limit))
    studies = [study for study in map(_study_from_json, answers) if study is not None]
    audit.record(
        action=AuditAction.PACS_QUERIED,
        user=user,
        source=source,
        detail={
            "criteria": sorted(filters),
            "results": len(studies),
            "studies": [study.study_instance_uid for study in studies[:50]],
        },
    )
    return studies


def pull_study(study_uid: str, *, site: Site, user: User | None = None, source: str = "") -> PullResult:
    """Retrieve every instance of the study (WADO-RS) and pass each through ingest at the site.
    Stops with a PacsError if the PACS fails part way; pulling again completes the study."""
    if not is_valid_uid(study_uid):
        raise PacsError("invalid_uid", "not a valid Study Instance UID")
    result = PullResult(study_instance_uid=study_uid)
    try:
        matches = _query(
            lambda client: client.search_for_studies(
                search_filters={"StudyInstanceUID": study_uid},
                fields=["NumberOfStudyRelatedInstances"],
                limit=1,
            )
        )
        if not matches:
            raise PacsError("not_found", "the PACS has no such study")
        result.expected = _integer(matches[0], "00201208")
        _retrieve_into(result, site=site)
    except PacsError as problem:
        _audit_pull(result, site=site, user=user, source=source, error=problem.code)
        raise
    _audit_pull(result, site=site, user=user, source=source)
    return result


def _retrieve_into(result: PullResult, *, site: Site) -> None:
    url = f"{_base_url()}/studies/{result.study_instance_uid}"
    source_detail = urlsplit(url).hostname or ""
    try:
        with (
            _session() as session,
            session.get(url, headers={"Accept": RETRIEVE_ACCEPT}, stream=True, timeout=TIMEOUT) as response,
        ):
            _raise_for_status(response)
            boundary = multipart.boundary_of(response.headers.get("Content-Type", ""))
            body = _ChunkStream(response.iter_content(chunk_size=multipart.CHUNK_BYTES))
            for part in multipart.read_parts(
                body,
                boundary,
                max_parts=MAX_INSTANCES,
                max_part_bytes=settings.MAX_UPLOAD_BYTES,
            ):
                outcome = ingest_at_site(
                    part.content,
                    site=site,
                    source="pacs",
                    source_detail=source_detail,
                    study_uid=result.study_instance_uid,
                )
                if outcome.outcome == "stored":
                    result.stored += 1
                elif outcome.outcome == "already_present":
                    result.already_present += 1
                else:
                    result.refused += 1
                    result.refusals[outcome.code] += 1
    except multipart.MultipartError as problem:
        raise PacsError(
            "bad_answer",
            f"the PACS sent an unreadable answer ({problem.message}); {_so_far(result)}",
        ) from None
    except requests.RequestException as problem:
        raise PacsError(
            "unreachable",
            f"the connection to the PACS failed ({type(problem).__name__}); {_so_far(result)}",
        ) from None


class _ChunkStream:
    """A readable over requests' decoded chunks, so network failures stay requests exceptions."""

    def __init__(self, chunks: Iterator[bytes]):
        self.chunks = chunks

    def read(self, size: int = -1, /) -> bytes:
        return next(self.chunks, b"")


def _so_far(result: PullResult) -> str:
    return f"{result.received} instances were received before it, pull again to finish"


def _audit_pull(result: PullResult, *, site: Site, user: User | None, source: str, error: str = "") -> None:
    detail: dict[str, Any] = {
        "via": "pacs",
        "site": site.code,
        "expected": result.expected,
        "stored": result.stored,
        "already_present": result.already_present,
        "refused": result.refused,
        "refusals": dict(result.refusals),
    }
    if error:
        detail["error"] = error
    patient = (
        Study.objects.filter(study_instance_uid=result.study_instance_uid).values_list("patient_id", flat=True).first()
    )
    audit.record(
        action=AuditAction.INSTANCES_IMPORTED,
        user=user,
        source=source,
        study_uid=result.study_instance_uid,
        patient_ref=patient,
        success=not error and not result.refused,
        detail=detail,
    )


def _search_filters(
    patient_id: str,
    study_date_range: tuple[dt.date | None, dt.date | None] | None,
    accession: str,
    modality: str,
) -> dict[str, str]:
    filters = {}
    if patient_id:
        filters["PatientID"] = patient_id
    if accession:
        filters["AccessionNumber"] = accession
    if modality:
        filters["ModalitiesInStudy"] = modality.upper()
    start, end = study_date_range or (None, None)
    if start or end:  # a DICOM date range (PS3.4 C.2.2.2.5), open on a missing side
        filters["StudyDate"] = f"{start:%Y%m%d}" if start else ""
        filters["StudyDate"] += f"-{end:%Y%m%d}" if end else "-"
    return filters


def _base_url() -> str:
    if not settings.PACS_DICOMWEB_URL:
        raise PacsError("not_configured", "no PACS is configured (PACS_DICOMWEB_URL)")
    return settings.PACS_DICOMWEB_URL.rstrip("/")


def _session() -> requests.Session:
    if settings.PACS_USERNAME:
        return create_session_from_user_pass(settings.PACS_USERNAME, settings.PACS_PASSWORD)
    return create_session()


def _query(
    search: Callable[[DICOMwebClient], list[dict[str, Any]]],
) -> list[dict[str, Any]]:
    """Run one QIDO-RS search with dicomweb-client, turning every failure into a PacsError."""
    try:
        client = DICOMwebClient(url=_base_url(), session=_session(), timeout=TIMEOUT)
    except ValueError:
        raise PacsError("not_configured", "PACS_DICOMWEB_URL is not an http(s) URL") from None
    client.set_http_retry_params(retry=False)  # a person is waiting: say so at once, they can retry
    try:
        return search(client)
    except requests.HTTPError as problem:
        _raise_for_status(problem.response)
        raise
    except requests.RequestException as problem:
        logger.warning("PACS unreachable: %s", type(problem).__name__)
        raise PacsError("unreachable", "the PACS cannot be reached") from None
    except ValueError:  # JSON that is not DICOM JSON
        raise PacsError("bad_answer", "the PACS sent an unreadable answer") from None


def _raise_for_status(response: requests.Response | None) -> None:
    status = response.status_code if response is not None else 0
    if 200 <= status < 300:
        return
    logger.warning("PACS answered HTTP %s", status)
    if status == 404:
        raise PacsError("not_found", "the PACS does not have what was asked for (HTTP 404)")
    if status in (401, 403):
        raise PacsError("pacs_refused", f"the PACS refused our credentials (HTTP {status})")
    raise PacsError("pacs_error", f"the PACS answered with an error (HTTP {status})")


def _study_from_json(item: dict[str, Any]) -> PacsStudy | None:
    study_uid = _text(item, "0020000D")
    if not is_valid_uid(study_uid):
        return None
    return PacsStudy(
        study_instance_uid=study_uid,
        patient_id=_text(item, "00100020"),
        patient_name=_person_name(item, "00100010"),
        study_date=_date(_text(item, "00080020")),
        accession_number=_text(item, "00080050"),
        modalities=",".join(_values(item, "00080061")),
        description=_text(item, "00081030"),
        instance_count=_integer(item, "00201208"),
    )


def _values(item: dict[str, Any], tag: str) -> list[Any]:
    element = item.get(tag)
    values = element.get("Value") if isinstance(element, dict) else None
    return values if isinstance(values, list) else []


def _text(item: dict[str, Any], tag: str) -> str:
    values = _values(item, tag)
    return str(values[0])[:200] if values and values[0] is not None else ""


def _person_name(item: dict[str, Any], tag: str) -> str:
    values = _values(item, tag)
    name = values[0] if values else None
    if isinstance(name, dict):
        name = name.get("Alphabetic") or name.get("Ideographic") or ""
    return " ".join(part for part in str(name or "").split("^") if part)[:200]


def _integer(item: dict[str, Any], tag: str) -> int | None:
    try:
        return int(_text(item, tag))
    except ValueError:
        return None


def _date(value: str) -> dt.date | None:
    try:
        return dt.datetime.strptime(value[:8], "%Y%m%d").date()
    except ValueError:
        return None
