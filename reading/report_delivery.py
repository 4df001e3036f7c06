"""Sending a signed report back to the PACS as a DICOM SR (reading.report_sr).

The SR is built once: its SOP Instance UID is saved on the report before it is built, and once
it is in our archive (ingested with source "report", so it shows in the study) every retry sends
those stored bytes, so the PACS never receives two versions of one instance.

It goes to the PACS by C-STORE when PACS_STORE_AE ("AE@host:port") is set, otherwise by STOW-RS
to PACS_DICOMWEB_URL; with neither, the report is marked no_pacs. A failed send is tried again
after a pause (RETRY_DELAYS); the report stays signed whatever happens, and Report.pacs_delivery
with a short detail (never PHI) and a REPORT_SENT audit row tell how it ended."""

import io
import logging
import time
from dataclasses import dataclass, replace

import highdicom as hd
import pydicom
import requests
from dicomweb_client import DICOMwebClient
from dicomweb_client.session_utils import create_session, create_session_from_user_pass
from django.conf import settings
from django.db import transaction
from django.tasks import task
from pynetdicom import AE
from pynetdicom.sop_class import ComprehensiveSRStorage

from accounts import audit
from accounts.models import AuditAction, User
from ai_overlays.models import Finding, GeometryKind
from reading.manifest import series_frames
from reading.models import FindingDecision, PacsDelivery, ReaderFinding, Report, ReportStatus, Verdict
from reading.report_sr import Algorithm, ReportedFinding, build_report_sr
from worklist import archive_files
from worklist.ingest import ingest
from worklist.models import Instance, Series, Study

logger = logging.getLogger(__name__)

SOURCE = "report"
RETRY_DELAYS = (2.0, 5.0)  # seconds before the second and the third attempt
TIMEOUT = (5, 60)  # STOW-RS: seconds to connect, seconds between bytes
DIMSE_TIMEOUT = 30


class DeliveryFailed(Exception):
    """One attempt failed; `detail` is safe to store and show (no PHI, no credentials)."""

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True)
class StoreAE:
    ae_title: str
    host: str
    port: int


@task()
def deliver_report(report_id: int) -> str:
    """Build, archive and send the SR of a signed report; return the delivery state."""
    report = Report.objects.select_related("study__site", "signed_by").filter(pk=report_id).first()
    if report is None or report.status != ReportStatus.SIGNED:
        return ""
    Report.objects.filter(pk=report.pk).update(pacs_delivery=PacsDelivery.PENDING, pacs_detail="")
    try:
        data = _archived_sr(report)
    except DeliveryFailed as failure:
        return _record(report, PacsDelivery.FAILED, failure.detail)
    except Exception as error:
        # Never left "sending": the report says it failed. Only the type is logged (no PHI).
        logger.error("report %s: preparing the SR failed: %s", report.pk, type(error).__name__)
        return _record(report, PacsDelivery.FAILED, "the SR could not be prepared")
    try:
        destination = _destination()
    except ValueError as error:
        return _record(report, PacsDelivery.FAILED, str(error))
    if destination is None:
        return _record(report, PacsDelivery.NO_PACS, "no PACS is configured")
    detail = ""
    for attempt, delay in enumerate((0.0, *RETRY_DELAYS), start=1):
        time.sleep(delay)
        try:
            detail = _send(data, destination)
        except DeliveryFailed as failure:
            logger.warning("report %s: attempt %d to send the SR failed: %s", report.pk, attempt, failure.detail)
            detail = failure.detail
            continue
        return _record(report, PacsDelivery.SENT, f"{detail} (attempt {attempt})")
    return _record(report, PacsDelivery.FAILED, f"{detail} (after {len(RETRY_DELAYS) + 1} attempts)")


def _record(report: Report, state: str, detail: str) -> str:
    with transaction.atomic():
        Report.objects.filter(pk=report.pk).update(pacs_delivery=state, pacs_detail=detail[:300])
        audit.record(
            action=AuditAction.REPORT_SENT,
            source=SOURCE,
            study_uid=report.study.study_instance_uid,
            success=state in (PacsDelivery.SENT, PacsDelivery.NO_PACS),
            detail={"report": report.pk, "delivery": state, "detail": detail[:300]},
        )
    return state


# The SR in our archive


def _archived_sr(report: Report) -> bytes:
    """The SR's bytes as stored in our archive, building and ingesting it the first time."""
    if not report.sr_sop_instance_uid:
        report.sr_sop_instance_uid = hd.UID()
        Report.objects.filter(pk=report.pk, sr_sop_instance_uid="").update(
            sr_sop_instance_uid=report.sr_sop_instance_uid
        )
        report.refresh_from_db(fields=["sr_sop_instance_uid"])
    stored = Instance.objects.filter(sop_instance_uid=report.sr_sop_instance_uid).values("file_key").first()
    if stored is not None:
        return archive_files.path_of(stored["file_key"]).read_bytes()
    try:
        data = sr_bytes(report)
    except ValueError as error:  # ReportNotBuildable, or highdicom refusing a value
        logger.warning("report %s: the SR could not be built: %s", report.pk, type(error).__name__)
        raise DeliveryFailed("the SR could not be built from this report") from error
    outcome = ingest(data, site=report.study.site, source=SOURCE, source_detail=f"report {report.pk}")
    if not outcome.ok:
        raise DeliveryFailed(f"our archive refused the SR: {outcome.code}")
    return data


def sr_bytes(report: Report) -> bytes:
    """The report's SR as a Part 10 file, with the SOP Instance UID saved on the report."""
    study = report.study
    findings = reported_findings(study)
    sr = build_report_sr(
        images=_headers(study, {finding.sop_instance_uid for finding in findings if finding.sop_instance_uid}),
        findings=findings,
        reader_name=reader_name(report.signed_by),
        impression=report.impression,
        series_instance_uid=hd.UID(),
        sop_instance_uid=report.sr_sop_instance_uid,
        institution_name=study.institution_name or study.site.name,
    )
    buffer = io.BytesIO()
    sr.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def reader_name(user: User | None) -> str:
    """The signer as a DICOM person name (Family^Given)."""
    if user is None:
        return ""
    if user.last_name or user.first_name:
        return f"{user.last_name}^{user.first_name}".strip("^")
    return user.get_username()


def reported_findings(study: Study) -> list[ReportedFinding]:
    """The AI findings with the reader's current verdict (undecided ones are left out; signing
    requires none), then the reader's own findings still in place."""
    latest: dict[int, FindingDecision] = {}
    for decision in FindingDecision.objects.filter(study=study).order_by("finding_id", "revision"):
        latest[decision.finding_id] = decision
    findings = []
    ai_findings = Finding.objects.filter(result__study=study).select_related("result__ai_model").order_by("id")
    for finding in ai_findings:
        decision = latest.get(finding.pk)
        if decision is None or decision.verdict == Verdict.UNDECIDED:
            continue
        findings.append(_ai_finding(finding, decision))
    for added in ReaderFinding.objects.filter(study=study, removed_at__isnull=True).order_by("created_at", "id"):
        findings.append(
            _on_one_slice(
                ReportedFinding(
                    tracking_id=f"reader-{added.pk}",
                    finding_type=added.finding_type,
                    label=added.label,
                    geometry_kind=added.geometry_kind,
                    geometry=added.geometry,
                    sop_instance_uid=added.sop_instance_uid,
                    frame=added.frame,
                ),
                added.series_instance_uid,
            )
        )
    return findings


def _ai_finding(finding: Finding, decision: FindingDecision) -> ReportedFinding:
    model = finding.result.ai_model
    modified = decision.verdict == Verdict.MODIFIED
    reported = ReportedFinding(
        tracking_id=f"ai-{finding.pk}",
        finding_type=finding.finding_type,
        label=(modified and decision.label) or finding.label,
        geometry_kind=(modified and decision.geometry_kind) or finding.geometry_kind,
        geometry=(modified and decision.geometry_kind and decision.geometry) or finding.geometry,
        sop_instance_uid=finding.sop_instance_uid,
        frame=finding.frame,
        algorithm=Algorithm(vendor=model.vendor, product=model.product, version=model.version),
        verdict=decision.verdict,
        rejection_reason=decision.reason,
    )
    if finding.geometry_kind == GeometryKind.BOX_3D and reported.geometry_kind != GeometryKind.BOX_3D:
        # A 3D box modified to a 2D shape is drawn on the slice at the box's centre.
        original = replace(reported, geometry_kind=GeometryKind.BOX_3D, geometry=finding.geometry)
        centre = _on_one_slice(original, finding.series_instance_uid)
        return replace(reported, sop_instance_uid=centre.sop_instance_uid, frame=centre.frame)
    return _on_one_slice(reported, finding.series_instance_uid)


def _on_one_slice(finding: ReportedFinding, series_instance_uid: str) -> ReportedFinding:
    """A 3D box becomes its rectangle on the slice at its centre (SCOORD is planar); the slice
    index counts the series' frames in the viewer's order, as the AI contract says."""
    if finding.geometry_kind != GeometryKind.BOX_3D:
        return finding
    series = Series.objects.filter(series_instance_uid=series_instance_uid).first()
    frames = series_frames(series) if series is not None else []
    low, high = finding.geometry.get("min"), finding.geometry.get("max")
    if not frames or not low or not high:
        return replace(finding, geometry_kind=GeometryKind.NONE, geometry={})
    centre = frames[min(max((int(low[2]) + int(high[2])) // 2, 0), len(frames) - 1)]
    return replace(
        finding,
        geometry_kind=GeometryKind.BOX,
        geometry={"box": [low[0], low[1], high[0], high[1]]},
        sop_instance_uid=centre.instance.sop_instance_uid,
        frame=centre.number,
    )


def _headers(study: Study, sop_instance_uids: set[str]) -> list[pydicom.Dataset]:
    """Headers of the instances the findings point at, and of one image for the patient and study
    modules, read from our archive."""
    instances = Instance.objects.filter(series__study=study)
    keys = list(instances.filter(sop_instance_uid__in=sop_instance_uids).values_list("file_key", flat=True))
    first_image = instances.filter(has_pixels=True).order_by("id").values_list("file_key", flat=True).first()
    if first_image is not None and first_image not in keys:
        keys.append(first_image)
    return [pydicom.dcmread(archive_files.path_of(key), stop_before_pixels=True) for key in keys]


# Sending


def _destination() -> StoreAE | str | None:
    """Where to send: a C-STORE peer, the STOW-RS root URL, or None when no PACS is configured."""
    store_ae = settings.PACS_STORE_AE
    if store_ae:
        return parse_store_ae(store_ae)
    return settings.PACS_DICOMWEB_URL.rstrip("/") or None


def parse_store_ae(value: str) -> StoreAE:
    """ "AE@host:port" -> StoreAE; a malformed value is a configuration error."""
    ae_title, _, address = value.partition("@")
    host, _, port = address.rpartition(":")
    if not (1 <= len(ae_title) <= 16 and host and port.isdigit() and 0 < int(port) < 65536):
        raise ValueError("PACS_STORE_AE must look like AE@host:port")
    return StoreAE(ae_title=ae_title, host=host, port=int(port))


def _send(data: bytes, destination: StoreAE | str) -> str:
    if isinstance(destination, StoreAE):
        return _c_store(data, destination)
    return _stow(data, destination)


def _stow(data: bytes, url: str) -> str:
    if settings.PACS_USERNAME:
        session = create_session_from_user_pass(settings.PACS_USERNAME, settings.PACS_PASSWORD)
    else:
        session = create_session()
    try:
        client = DICOMwebClient(url=url, session=session, timeout=TIMEOUT)
    except ValueError:
        raise DeliveryFailed("PACS_DICOMWEB_URL is not an http(s) URL") from None
    client.set_http_retry_params(retry=False)  # we retry ourselves, after a pause
    try:
        answer = client.store_instances(datasets=[pydicom.dcmread(io.BytesIO(data))])
    except requests.HTTPError as problem:
        status = problem.response.status_code if problem.response is not None else 0
        raise DeliveryFailed(f"the PACS answered HTTP {status}") from None
    except requests.RequestException:
        raise DeliveryFailed("the PACS cannot be reached") from None
    if answer is not None and answer.get("FailedSOPSequence"):
        reason = answer.FailedSOPSequence[0].get("FailureReason", 0)
        raise DeliveryFailed(f"the PACS refused the SR (failure reason 0x{int(reason):04X})")
    return "sent over STOW-RS"


def _c_store(data: bytes, peer: StoreAE) -> str:
    dataset = pydicom.dcmread(io.BytesIO(data))
    ae = AE(ae_title=settings.DICOM_AE_TITLE)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = DIMSE_TIMEOUT
    ae.add_requested_context(ComprehensiveSRStorage, dataset.file_meta.TransferSyntaxUID)
    association = ae.associate(peer.host, peer.port, ae_title=peer.ae_title)
    if not association.is_established:
        raise DeliveryFailed("the PACS refused or did not answer the DICOM association")
    try:
        status = association.send_c_store(dataset)
    except ValueError:  # the PACS accepted no presentation context for SR
        raise DeliveryFailed("the PACS does not accept Comprehensive SR") from None
    finally:
        association.release()
    code = getattr(status, "Status", None)
    if code is None:
        raise DeliveryFailed("the PACS did not answer the C-STORE")
    if code not in (0x0000, 0xB000, 0xB007, 0xB006):
        raise DeliveryFailed(f"the PACS refused the SR (C-STORE status 0x{code:04X})")
    return "sent over C-STORE"
