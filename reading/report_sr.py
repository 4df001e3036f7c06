"""The signed report as a DICOM Comprehensive SR holding a TID 1500 Measurement Report (PS3.16 A.1),
built from plain data so it can be tested without a database.

What goes in:
- every confirmed finding (an AI finding accepted or modified, or one the reader added) with an
  image region: a TID 1410 Planar ROI group with its SCOORD (POINT, or a closed POLYLINE for a box
  or an outline) on the source image and frame; a study-level one: a TID 1501 group without ROI;
- every AI finding carries TID 4019 Algorithm Identification ("vendor product", version) and a
  qualitative evaluation "Reader assessment of AI finding" = accepted / modified / rejected;
- a rejected AI finding is a TID 1501 group with its Finding, algorithm and assessment (plus the
  coded reason) but no ROI and no image reference: the verdict is kept for the record (and for
  the vendor's statistics) while nothing in the report places the rejected lesion on an image,
  so a reader of the SR that collects ROIs (get_planar_roi_measurement_groups) never sees it;
- the impression as TEXT (DCM 121073) in the report's "Qualitative Evaluations" container.

Coordinates are image pixels with 0,0 at the top-left corner of the top-left pixel, which is
both the AI contract's convention and SCOORD's (PS3.3 C.18.6.1.2), so they pass unchanged."""

from collections.abc import Sequence
from dataclasses import dataclass

import highdicom as hd
import numpy as np
from pydicom import Dataset
from pydicom.sr.codedict import codes

from ai_overlays.dicom_results import READING_REPORT_MANUFACTURER

LOCAL_SCHEME = "99RWS"
LOCAL_SCHEME_NAME = "Reading workstation local codes"
SR_SERIES_NUMBER = 9901
MANUFACTURER = READING_REPORT_MANUFACTURER

# Finding types with a standard code (SNOMED CT); any other slug gets a local code.
STANDARD_FINDINGS: dict[str, tuple[str, str, str]] = {
    "lung_nodule": ("27925004", "SCT", "Nodule"),
    "nodule": ("27925004", "SCT", "Nodule"),
    "mass": ("4147007", "SCT", "Mass"),
    "breast_mass": ("4147007", "SCT", "Mass"),
    "haemorrhage": ("50960005", "SCT", "Hemorrhage"),
    "hemorrhage": ("50960005", "SCT", "Hemorrhage"),
    "intracranial_haemorrhage": ("1386000", "SCT", "Intracranial hemorrhage"),
    "infarct": ("55641003", "SCT", "Infarct"),
    "atrophy": ("13331008", "SCT", "Atrophy"),
}

ASSESSMENT = hd.sr.CodedConcept("RWS001", LOCAL_SCHEME, "Reader assessment of AI finding")
REJECTION_REASON = hd.sr.CodedConcept("RWS002", LOCAL_SCHEME, "Reason for rejecting AI finding")
VERDICTS = {
    "accepted": hd.sr.CodedConcept("RWS101", LOCAL_SCHEME, "Accepted by reader"),
    "modified": hd.sr.CodedConcept("RWS102", LOCAL_SCHEME, "Modified by reader"),
    "rejected": hd.sr.CodedConcept("RWS103", LOCAL_SCHEME, "Rejected by reader"),
}
# Code meanings are part of the code and stay in English (reading.models.RejectionReason's keys).
REASONS = {
    "artefact": hd.sr.CodedConcept("RWS201", LOCAL_SCHEME, "False positive: artefact"),
    "normal_structure": hd.sr.CodedConcept("RWS202", LOCAL_SCHEME, "False positive: normal structure"),
    "benign": hd.sr.CodedConcept("RWS203", LOCAL_SCHEME, "Benign finding"),
    "already_known": hd.sr.CodedConcept("RWS204", LOCAL_SCHEME, "Already known"),
    "other": hd.sr.CodedConcept("RWS205", LOCAL_SCHEME, "Other"),
}
IMAGING_PROCEDURE = hd.sr.CodedConcept("363679005", "SCT", "Imaging procedure")
QUALITATIVE_EVALUATIONS = hd.sr.CodedConcept("C0034375", "UMLS", "Qualitative Evaluations")


@dataclass(frozen=True)
class Algorithm:
    vendor: str
    product: str
    version: str


@dataclass(frozen=True)
class ReportedFinding:
    """One finding as the report states it. `tracking_id` is stable for the finding ("ai-12",
    "reader-3"); geometry is stored as ai_overlays.models.Finding stores it ({"point": [x, y]},
    {"box": [...]}, {"polygon": [...]}; 2D kinds or "none" only: the caller resolves a 3D box to
    one slice). `algorithm` is None for a finding the reader added;
    `verdict` is the reader's on an AI finding ("accepted", "modified", "rejected")."""

    tracking_id: str
    finding_type: str
    label: str
    geometry_kind: str
    geometry: dict
    sop_instance_uid: str = ""
    frame: int = 1
    algorithm: Algorithm | None = None
    verdict: str = ""
    rejection_reason: str = ""


class ReportNotBuildable(ValueError):
    """The data cannot make a valid SR (a finding on an image not in the study, bad geometry)."""


def build_report_sr(
    *,
    images: Sequence[Dataset],
    findings: Sequence[ReportedFinding],
    reader_name: str,
    impression: str,
    series_instance_uid: str,
    sop_instance_uid: str,
    institution_name: str = "",
) -> hd.sr.ComprehensiveSR:
    """The SR of a signed report. `images` are headers of the study's instances (pixels not needed):
    at least one, for the patient and study modules, and every instance a finding points at."""
    if not images:
        raise ReportNotBuildable("no image of the study to take the patient and study from")
    by_uid = {str(image.SOPInstanceUID): image for image in images}
    groups = [_group(finding, by_uid) for finding in findings]
    referenced = {finding.sop_instance_uid for finding in findings if _has_region(finding)}
    evidence = [by_uid[uid] for uid in sorted(referenced)] or [images[0]]
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(
            observer_person_context=hd.sr.ObserverContext(
                observer_type=codes.DCM.Person,
                observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(name=reader_name),
            )
        ),
        procedure_reported=IMAGING_PROCEDURE,
        imaging_measurements=groups,
    )
    if impression.strip():
        report[0].ContentSequence.append(_impression(impression))
    sr = hd.sr.ComprehensiveSR(
        evidence=evidence,
        content=report[0],
        series_instance_uid=series_instance_uid,
        series_number=SR_SERIES_NUMBER,
        sop_instance_uid=sop_instance_uid,
        instance_number=1,
        manufacturer=MANUFACTURER,
        is_complete=True,
        is_final=True,
        is_verified=True,
        institution_name=institution_name or None,
        verifying_observer_name=reader_name,
        verifying_organization=institution_name or MANUFACTURER,
        specific_character_set="ISO_IR 192",  # reader names and impressions are often Korean
    )
    sr.SeriesDescription = "Signed report"
    sr.CodingSchemeIdentificationSequence = [_local_scheme()]
    return sr


def finding_code(finding_type: str) -> hd.sr.CodedConcept:
    standard = STANDARD_FINDINGS.get(finding_type)
    if standard is not None:
        return hd.sr.CodedConcept(*standard)
    return hd.sr.CodedConcept(finding_type, LOCAL_SCHEME, finding_type.replace("_", " ").replace("-", " ").capitalize())


def _has_region(finding: ReportedFinding) -> bool:
    return finding.verdict != "rejected" and finding.geometry_kind in ("point", "box", "polygon")


def _group(finding: ReportedFinding, by_uid: dict[str, Dataset]):
    common = {
        "tracking_identifier": hd.sr.TrackingIdentifier(
            uid=hd.UID(), identifier=f"{finding.tracking_id}: {finding.label or finding.finding_type}"
        ),
        "finding_type": finding_code(finding.finding_type),
        "algorithm_id": _algorithm(finding.algorithm),
        "qualitative_evaluations": _evaluations(finding) or None,
    }
    if not _has_region(finding):
        return hd.sr.MeasurementsAndQualitativeEvaluations(**common)
    image = by_uid.get(finding.sop_instance_uid)
    if image is None:
        raise ReportNotBuildable(f"finding {finding.tracking_id} is on an image not in the study")
    return hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(referenced_region=_region(finding, image), **common)


def _algorithm(algorithm: Algorithm | None) -> hd.sr.AlgorithmIdentification | None:
    if algorithm is None:
        return None
    return hd.sr.AlgorithmIdentification(name=f"{algorithm.vendor} {algorithm.product}", version=algorithm.version)


def _evaluations(finding: ReportedFinding) -> list[hd.sr.QualitativeEvaluation]:
    if finding.algorithm is None:
        return []
    evaluations = [hd.sr.QualitativeEvaluation(ASSESSMENT, VERDICTS[finding.verdict])]
    if finding.verdict == "rejected" and finding.rejection_reason:
        evaluations.append(hd.sr.QualitativeEvaluation(REJECTION_REASON, REASONS[finding.rejection_reason]))
    return evaluations


def _region(finding: ReportedFinding, image: Dataset) -> hd.sr.ImageRegion:
    frames = int(image.get("NumberOfFrames", 1) or 1)
    if not 1 <= finding.frame <= frames:
        raise ReportNotBuildable(f"finding {finding.tracking_id} is on frame {finding.frame} of {frames}")
    graphic_type, points = _graphic(finding)
    return hd.sr.ImageRegion(
        graphic_type=graphic_type,
        graphic_data=points,
        source_image=hd.sr.SourceImageForRegion(
            referenced_sop_class_uid=str(image.SOPClassUID),
            referenced_sop_instance_uid=str(image.SOPInstanceUID),
            referenced_frame_numbers=[finding.frame] if frames > 1 else None,
        ),
    )


def _graphic(finding: ReportedFinding) -> tuple[hd.sr.GraphicTypeValues, np.ndarray]:
    geometry = finding.geometry.get(finding.geometry_kind) if isinstance(finding.geometry, dict) else None
    try:
        if finding.geometry_kind == "point":
            return hd.sr.GraphicTypeValues.POINT, np.array([geometry], dtype=float).reshape(1, 2)
        if finding.geometry_kind == "box":
            x0, y0, x1, y1 = (float(value) for value in geometry)
            corners = [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]
            return hd.sr.GraphicTypeValues.POLYLINE, _closed(corners)
        points = [[float(x), float(y)] for x, y in geometry]
    except (TypeError, ValueError) as error:
        raise ReportNotBuildable(f"finding {finding.tracking_id} has malformed geometry") from error
    if len(points) < 3:
        raise ReportNotBuildable(f"finding {finding.tracking_id}: an outline needs three points")
    return hd.sr.GraphicTypeValues.POLYLINE, _closed(points)


def _closed(points: list[list[float]]) -> np.ndarray:
    # A POLYLINE is closed when its last point repeats its first (PS3.3 C.18.6.1.1).
    if points[0] != points[-1]:
        points = [*points, points[0]]
    return np.array(points, dtype=float)


def _impression(text: str) -> hd.sr.ContainerContentItem:
    container = hd.sr.ContainerContentItem(
        name=QUALITATIVE_EVALUATIONS, relationship_type=hd.sr.RelationshipTypeValues.CONTAINS
    )
    container.ContentSequence = hd.sr.ContentSequence(
        [
            hd.sr.TextContentItem(
                name=codes.DCM.Impression, value=text, relationship_type=hd.sr.RelationshipTypeValues.CONTAINS
            )
        ]
    )
    return container


def _local_scheme() -> Dataset:
    item = Dataset()
    item.CodingSchemeDesignator = LOCAL_SCHEME
    item.CodingSchemeName = LOCAL_SCHEME_NAME
    item.CodingSchemeResponsibleOrganization = MANUFACTURER
    return item
