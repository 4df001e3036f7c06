"""DICOM objects that carry AI output (Segmentation, Parametric Map, SR TID 1500 Measurement
Report) turned into a result payload of THE AI RESULT CONTRACT, so they end up as the same
findings and heatmaps as a REST delivery.

Plain conversion, no database: the caller hands over the images of the study the object was
stored in; anything the object points at outside them is refused (RELIABILITY B17), never
looked up elsewhere. Result id = the object's SOP Instance UID, so a repeat is idempotent."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from django.utils.text import slugify
from PIL import Image
from pydicom import Dataset
from pydicom.multival import MultiValue

if TYPE_CHECKING:
    import highdicom as hd

# highdicom and scikit-image are imported where they are used: together they add most of a second
# to the start of every process, and the app registry imports this module through the receiver.

SEGMENTATION = "1.2.840.10008.5.1.4.1.1.66.4"
LABEL_MAP_SEGMENTATION = "1.2.840.10008.5.1.4.1.1.66.7"
PARAMETRIC_MAP = "1.2.840.10008.5.1.4.1.1.30"
ENHANCED_SR = "1.2.840.10008.5.1.4.1.1.88.22"
COMPREHENSIVE_SR = "1.2.840.10008.5.1.4.1.1.88.33"
COMPREHENSIVE_3D_SR = "1.2.840.10008.5.1.4.1.1.88.34"

# SOP Class -> ResultSource value of the AIResult.
RESULT_SOURCES = {
    SEGMENTATION: "dicom_seg",
    LABEL_MAP_SEGMENTATION: "dicom_seg",
    PARAMETRIC_MAP: "dicom_pm",
    ENHANCED_SR: "dicom_sr",
    COMPREHENSIVE_SR: "dicom_sr",
    COMPREHENSIVE_3D_SR: "dicom_sr",
}

# TID 4019 Algorithm Identification and TID 1004 Device Observer concepts (DCM scheme).
ALGORITHM_NAME = "111001"
ALGORITHM_VERSION = "111003"
DEVICE_OBSERVER_NAME = "121013"
DEVICE_OBSERVER_MANUFACTURER = "121014"
DEVICE_OBSERVER_MODEL_NAME = "121015"

# Outline simplification in pixels: a voxel staircase becomes a few dozen points.
OUTLINE_TOLERANCE = 0.5
ELLIPSE_POINTS = 32
UNKNOWN = "unknown"


class DicomResultRefused(Exception):
    """The object cannot be attached to its study; `code` is machine-readable, `reason` says why."""

    def __init__(self, code: str, reason: str):
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class SourceImage:
    """An image of the study the object was stored in, as the index knows it."""

    series_instance_uid: str
    rows: int
    columns: int
    number_of_frames: int = 1


@dataclass(frozen=True)
class ModelIdentity:
    vendor: str
    product: str
    version: str


@dataclass
class Conversion:
    payload: dict
    model: ModelIdentity
    source: str  # a ResultSource value
    # The series the result is drawn on: the new AIModel's modality comes from them.
    series_instance_uids: set[str]


# The Manufacturer of the SR this workstation writes for a signed report (reading.report_sr): a
# radiologist's verdicts, never an AI result, even when it comes back from the PACS.
READING_REPORT_MANUFACTURER = "Reading workstation"


def is_reading_report(dataset: Dataset) -> bool:
    return str(dataset.get("Manufacturer", "")) == READING_REPORT_MANUFACTURER and "SR" == str(
        dataset.get("Modality", "")
    )


def convert(
    dataset: Dataset, *, study_instance_uid: str, patient_id: str, images: Mapping[str, SourceImage]
) -> Conversion:
    """The payload for `dataset`, stored in the study `study_instance_uid` of patient `patient_id`
    whose images (by SOP Instance UID) are `images`. Raises DicomResultRefused."""
    sop_class_uid = str(dataset.get("SOPClassUID", ""))
    if sop_class_uid not in RESULT_SOURCES:
        raise DicomResultRefused("not_a_result", "this SOP Class carries no AI result")
    if str(dataset.get("StudyInstanceUID", "")) != study_instance_uid:
        raise DicomResultRefused("foreign_study", "the object belongs to another study")
    if str(dataset.get("PatientID", "")) != patient_id:
        raise DicomResultRefused("foreign_patient", "the object names another patient than its study")
    references = _References(study_instance_uid, images)
    try:
        if sop_class_uid in (SEGMENTATION, LABEL_MAP_SEGMENTATION):
            model, findings, heatmaps = _from_segmentation(dataset, references)
        elif sop_class_uid == PARAMETRIC_MAP:
            model, findings, heatmaps = _from_parametric_map(dataset, references)
        else:
            model, findings, heatmaps = _from_measurement_report(dataset, references)
    except DicomResultRefused:
        raise
    except (AttributeError, KeyError, IndexError, TypeError, ValueError, RuntimeError) as error:
        # highdicom and pydicom say "malformed" in many ways; the object stays stored either way.
        raise DicomResultRefused("malformed", f"the object could not be read: {type(error).__name__}") from None
    if not findings and not heatmaps:
        raise DicomResultRefused("empty", "the object holds no image region, segment or map to show")
    payload = {
        "result_id": str(dataset.SOPInstanceUID),
        "model": {"vendor": model.vendor, "product": model.product, "version": model.version},
        "study_instance_uid": study_instance_uid,
        "summary": _summary(dataset),
        "findings": findings,
        "heatmaps": heatmaps,
    }
    return Conversion(payload, model, RESULT_SOURCES[sop_class_uid], references.series_used)


class _References:
    """Checks every reference against the study's images and remembers the series drawn on."""

    def __init__(self, study_instance_uid: str, images: Mapping[str, SourceImage]):
        self.study_instance_uid = study_instance_uid
        self.images = images
        self.series_used: set[str] = set()

    def image(self, sop_instance_uid: str, *, frame: int = 1, study_instance_uid: str = "") -> SourceImage:
        if study_instance_uid and study_instance_uid != self.study_instance_uid:
            raise DicomResultRefused("foreign_study", "the object references an image of another study")
        image = self.images.get(sop_instance_uid)
        if image is None:
            raise DicomResultRefused("foreign_instance", "the object references an image that is not in this study")
        if not 1 <= frame <= image.number_of_frames:
            raise DicomResultRefused("frame_out_of_range", "the object references a frame the image does not have")
        self.series_used.add(image.series_instance_uid)
        return image


# Segmentation ---------------------------------------------------------------------------------


def _from_segmentation(dataset: Dataset, references: _References) -> tuple[ModelIdentity, list, list]:
    import highdicom as hd

    seg = hd.seg.Segmentation.from_dataset(dataset, copy=True)
    for study_uid, _series_uid, sop_uid in seg.get_source_image_uids():
        references.image(sop_uid, study_instance_uid=study_uid)
    source_frames = sorted(set(_segmentation_source_frames(dataset, references)))
    if not source_frames:
        raise DicomResultRefused("no_source_frames", "the segmentation frames name no source image")
    for sop_uid, _frame in source_frames:
        image = references.images[sop_uid]
        if (image.rows, image.columns) != (int(dataset.Rows), int(dataset.Columns)):
            raise DicomResultRefused("out_of_bounds", "the segmentation is not the size of the image it references")
    segment_numbers = list(seg.segment_numbers)
    masks = _segment_masks(seg, source_frames, segment_numbers)  # (source frames, rows, columns, segments), 0-1

    findings = []
    for index, number in enumerate(segment_numbers):
        areas = (masks[..., index] >= 0.5).sum(axis=(1, 2))
        if not areas.any():
            continue
        best = int(areas.argmax())
        sop_uid, frame = source_frames[best]
        description = seg.get_segment_description(number)
        findings.append(
            {
                "type": _slug(description.segmented_property_type.meaning),
                "label": str(description.segment_label)[:200],
                "series_instance_uid": references.images[sop_uid].series_instance_uid,
                "sop_instance_uid": sop_uid,
                "frame": frame,
                **_outline(masks[best, :, :, index] >= 0.5),
            }
        )
    heatmaps = [
        _heatmap(references.images[sop_uid], sop_uid, frame, np.rint(masks[position].max(axis=-1) * 255))
        for position, (sop_uid, frame) in enumerate(source_frames)
        if masks[position].any()
    ]
    return _segmentation_model(dataset, seg, segment_numbers), findings, heatmaps


def _segmentation_source_frames(dataset: Dataset, references: _References) -> Iterator[tuple[str, int]]:
    for item in dataset.get("PerFrameFunctionalGroupsSequence", []):
        for derivation in item.get("DerivationImageSequence", []):
            for source in derivation.get("SourceImageSequence", []):
                sop_uid = str(source.ReferencedSOPInstanceUID)
                for frame in _frame_numbers(source):
                    references.image(sop_uid, frame=frame)
                    yield sop_uid, frame


def _frame_numbers(reference: Dataset) -> list[int]:
    value = reference.get("ReferencedFrameNumber")
    if value is None or value == "":
        return [1]
    if isinstance(value, MultiValue | list):
        return [int(number) for number in value]
    return [int(value)]


def _segment_masks(
    seg: hd.seg.Segmentation, source_frames: list[tuple[str, int]], segment_numbers: list[int]
) -> np.ndarray:
    options = {
        "segment_numbers": segment_numbers,
        "combine_segments": False,
        "rescale_fractional": True,
        "ignore_spatial_locations": True,
        "assert_missing_frames_are_empty": True,
    }
    single_frame = [sop_uid for sop_uid, frame in source_frames if frame == 1]
    if len(single_frame) == len(source_frames) and len(set(single_frame)) == len(single_frame):
        return np.asarray(seg.get_pixels_by_source_instance(source_sop_instance_uids=single_frame, **options), float)
    # Multi-frame sources: one call per source instance, in the order of source_frames.
    parts = []
    for sop_uid in dict.fromkeys(sop_uid for sop_uid, _frame in source_frames):
        numbers = [frame for uid, frame in source_frames if uid == sop_uid]
        parts.append(
            np.asarray(
                seg.get_pixels_by_source_frame(
                    source_sop_instance_uid=sop_uid, source_frame_numbers=numbers, **options
                ),
                float,
            )
        )
    return np.concatenate(parts)


def _segmentation_model(dataset: Dataset, seg: hd.seg.Segmentation, segment_numbers: list[int]) -> ModelIdentity:
    name = version = ""
    for number in segment_numbers:
        algorithm = seg.get_segment_description(number).get("SegmentationAlgorithmIdentificationSequence")
        if algorithm:
            name = str(algorithm[0].get("AlgorithmName", ""))
            version = str(algorithm[0].get("AlgorithmVersion", ""))
            break
    return _model(dataset, name=name, version=version)


def _outline(mask: np.ndarray) -> dict:
    """The largest outline of a 2D mask as a polygon in image coordinates (pixel corners), or the
    bounding box when the region is too small for an outline."""
    from skimage.measure import approximate_polygon, find_contours

    padded = np.pad(mask.astype(float), 1)
    contours = find_contours(padded, 0.5)
    if contours:
        contour = max(contours, key=len)
        contour = approximate_polygon(contour, tolerance=OUTLINE_TOLERANCE)[:-1]  # closed: last repeats first
        rows, columns = mask.shape
        # Contour points lie on pixel centres of the padded mask: centre of (r, c) is (c + 0.5, r + 0.5).
        points = [
            [round(min(max(column - 0.5, 0.0), columns), 2), round(min(max(row - 0.5, 0.0), rows), 2)]
            for row, column in contour
        ]
        if len(points) >= 3:
            return {"polygon": points}
    row_indices, column_indices = np.nonzero(mask)
    return {
        "box": [
            int(column_indices.min()),
            int(row_indices.min()),
            int(column_indices.max()) + 1,
            int(row_indices.max()) + 1,
        ]
    }


# Parametric Map -------------------------------------------------------------------------------


def _from_parametric_map(dataset: Dataset, references: _References) -> tuple[ModelIdentity, list, list]:
    values = np.asarray(dataset.pixel_array, dtype=float)
    if values.ndim == 2:
        values = values[np.newaxis]
    shared = dataset.get("SharedFunctionalGroupsSequence", [Dataset()])[0]
    per_frame = list(dataset.get("PerFrameFunctionalGroupsSequence", []))
    low, high = float(np.nanmin(values)), float(np.nanmax(values))
    span = high - low if high > low else 1.0
    maps: dict[tuple[str, int], np.ndarray] = {}
    for index in range(values.shape[0]):
        groups = per_frame[index] if index < len(per_frame) else Dataset()
        derivations = groups.get("DerivationImageSequence") or shared.get("DerivationImageSequence") or []
        scaled = np.rint(np.nan_to_num((values[index] - low) / span) * 255)
        for derivation in derivations:
            for source in derivation.get("SourceImageSequence", []):
                sop_uid = str(source.ReferencedSOPInstanceUID)
                for frame in _frame_numbers(source):
                    image = references.image(sop_uid, frame=frame)
                    if (image.rows, image.columns) != scaled.shape:
                        raise DicomResultRefused("out_of_bounds", "the map is not the size of the image it references")
                    key = (sop_uid, frame)
                    maps[key] = np.maximum(maps[key], scaled) if key in maps else scaled
    heatmaps = [
        _heatmap(references.images[sop_uid], sop_uid, frame, scaled) for (sop_uid, frame), scaled in maps.items()
    ]
    return _model(dataset, name="", version=""), [], heatmaps


# Measurement Report (TID 1500) -------------------------------------------------------------


def _from_measurement_report(dataset: Dataset, references: _References) -> tuple[ModelIdentity, list, list]:
    import highdicom as hd

    sr_classes = {
        ENHANCED_SR: hd.sr.EnhancedSR,
        COMPREHENSIVE_SR: hd.sr.ComprehensiveSR,
        COMPREHENSIVE_3D_SR: hd.sr.Comprehensive3DSR,
    }
    report = sr_classes[str(dataset.SOPClassUID)].from_dataset(dataset, copy=True)
    if not isinstance(report.content, hd.sr.MeasurementReport):
        raise DicomResultRefused("not_a_measurement_report", "the SR is not a TID 1500 Measurement Report")
    findings = []
    for group in report.content.get_planar_roi_measurement_groups():
        region = group.roi
        if region is None or not isinstance(region, hd.sr.ImageRegion):
            continue  # a referenced segment or a 3D region: nothing to draw on one image
        source = region.ContentSequence[0]
        reference = source.ReferencedSOPSequence[0]
        sop_uid = str(reference.ReferencedSOPInstanceUID)
        frame = _frame_numbers(reference)[0]
        image = references.image(sop_uid, frame=frame)
        finding_type = group.finding_type
        findings.append(
            {
                "type": _slug(finding_type.meaning if finding_type is not None else ""),
                "label": str(group.tracking_identifier or "")[:200],
                "series_instance_uid": image.series_instance_uid,
                "sop_instance_uid": sop_uid,
                "frame": frame,
                **_region_geometry(str(region.graphic_type.value), np.asarray(region.value, float), image),
            }
        )
    tree = dict(_text_items(dataset))
    model = _model(
        dataset,
        name=tree.get(ALGORITHM_NAME, ""),
        version=tree.get(ALGORITHM_VERSION, ""),
        observer_vendor=tree.get(DEVICE_OBSERVER_MANUFACTURER, ""),
        observer_product=tree.get(DEVICE_OBSERVER_MODEL_NAME) or tree.get(DEVICE_OBSERVER_NAME, ""),
    )
    return model, findings, []


def _region_geometry(graphic_type: str, points: np.ndarray, image: SourceImage) -> dict:
    """SCOORD graphic data (column, row; 0,0 = top-left corner of the image, as in the contract)."""
    if points.size == 0 or not np.isfinite(points).all():
        raise DicomResultRefused("malformed", "an image region has no usable coordinates")
    inside = (points[:, 0] >= 0) & (points[:, 0] <= image.columns) & (points[:, 1] >= 0) & (points[:, 1] <= image.rows)
    if not inside.all():
        raise DicomResultRefused("out_of_bounds", "an image region lies outside its image")
    if graphic_type == "POINT":
        return {"point": _rounded(points[0])}
    if graphic_type == "CIRCLE":  # centre, then a point on the circumference
        radius = float(np.hypot(*(points[1] - points[0])))
        return {"polygon": _ellipse(points[0], np.array([radius, 0.0]), np.array([0.0, radius]), image)}
    if graphic_type == "ELLIPSE":  # major axis end points, then minor axis end points
        centre = points[:2].mean(axis=0)
        return {"polygon": _ellipse(centre, points[0] - centre, points[2] - centre, image)}
    if graphic_type in ("POLYLINE", "POLYGON"):
        if len(points) > 1 and np.array_equal(points[0], points[-1]):
            points = points[:-1]  # a closed polyline repeats its first point
        if len(points) >= 3:
            return {"polygon": [_rounded(point) for point in points]}
    # Lines, multipoints: the region they span.
    return {"box": _rounded(np.concatenate([points.min(axis=0), points.max(axis=0)]))}


def _ellipse(centre: np.ndarray, axis_a: np.ndarray, axis_b: np.ndarray, image: SourceImage) -> list[list[float]]:
    angles = np.linspace(0.0, 2.0 * np.pi, ELLIPSE_POINTS, endpoint=False)
    points = centre + np.outer(np.cos(angles), axis_a) + np.outer(np.sin(angles), axis_b)
    # A circle around a point near the edge is still about that point: clip it to the image.
    points = np.clip(points, 0.0, [image.columns, image.rows])
    return [_rounded(point) for point in points]


def _text_items(dataset: Dataset) -> Iterator[tuple[str, str]]:
    """(concept code, text) of every TEXT item of the content tree, depth first."""
    for item in dataset.get("ContentSequence", []):
        concept = item.get("ConceptNameCodeSequence")
        if item.get("ValueType") == "TEXT" and concept:
            yield str(concept[0].CodeValue), str(item.get("TextValue", ""))
        yield from _text_items(item)


# Shared -------------------------------------------------------------------------------------


def _model(
    dataset: Dataset, *, name: str, version: str, observer_vendor: str = "", observer_product: str = ""
) -> ModelIdentity:
    software = dataset.get("SoftwareVersions", "")
    software = str(software[0] if not isinstance(software, str) and software else software)
    vendor = str(dataset.get("Manufacturer", "")) or observer_vendor
    product = name or str(dataset.get("ManufacturerModelName", "")) or observer_product
    return ModelIdentity(
        vendor=(vendor.strip() or UNKNOWN)[:100],
        product=(product.strip() or UNKNOWN)[:100],
        version=((version or software).strip() or UNKNOWN)[:40],
    )


def _heatmap(image: SourceImage, sop_uid: str, frame: int, values: np.ndarray) -> dict:
    buffer = io.BytesIO()
    Image.fromarray(np.clip(values, 0, 255).astype(np.uint8), mode="L").save(buffer, format="PNG")
    return {
        "series_instance_uid": image.series_instance_uid,
        "sop_instance_uid": sop_uid,
        "frame": frame,
        "rows": image.rows,
        "columns": image.columns,
        "encoding": "png",
        "data": base64.b64encode(buffer.getvalue()).decode("ascii"),
    }


def _summary(dataset: Dataset) -> str:
    return str(dataset.get("SeriesDescription", "") or dataset.get("ContentDescription", ""))[:10_000]


def _slug(meaning: str) -> str:
    return slugify(meaning)[:40].strip("-") or "finding"


def _rounded(values: np.ndarray) -> list[float]:
    return [round(float(value), 2) for value in values]
