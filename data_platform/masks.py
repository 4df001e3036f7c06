"""Masks as DICOM SEG (highdicom), one per series, one segment per positive box or outline label,
referencing the de-identified images; UIDs and dates derived from the export so a re-export gives
the same bytes."""

import hashlib

import numpy as np
import pydicom
from highdicom.seg import SegmentAlgorithmTypeValues, Segmentation, SegmentationTypeValues, SegmentDescription
from PIL import Image, ImageDraw
from pydicom.sr.codedict import codes

DRAWN_KINDS = ("box", "polygon")
HIGHDICOM_UID_PREFIX = "1.2.826.0.1.3680043.10.511.3."


def series_segmentation(
    *, labels: list[dict], images: dict[str, pydicom.Dataset], seg_series_uid: str, seg_sop_uid: str
) -> Segmentation | None:
    """A SEG over `images` (exported SOP UID -> de-identified dataset) for the drawable positive
    labels of one series; None when there is none."""
    drawn = [
        label
        for label in labels
        if label["kind"] == "positive" and label["geometry_kind"] in DRAWN_KINDS and label["sop_instance_uid"] in images
    ]
    if not drawn:
        return None
    sources = sorted({label["sop_instance_uid"] for label in drawn})
    first = images[sources[0]]
    rows, columns = int(first.Rows), int(first.Columns)
    masks = np.zeros((len(sources), rows, columns, len(drawn)), dtype=bool)
    descriptions = []
    for segment, label in enumerate(drawn):
        masks[sources.index(label["sop_instance_uid"]), :, :, segment] = _rasterise(label, rows, columns)
        descriptions.append(
            SegmentDescription(
                segment_number=segment + 1,
                segment_label=f"{label['finding_type']} #{label['label_number']}"[:64],
                segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
                segmented_property_type=codes.SCT.Lesion,
                algorithm_type=SegmentAlgorithmTypeValues.MANUAL,
            )
        )
    seg = Segmentation(
        source_images=[images[uid] for uid in sources],
        pixel_array=masks,
        segmentation_type=SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=seg_series_uid,
        series_number=9000,
        sop_instance_uid=seg_sop_uid,
        instance_number=1,
        manufacturer="Reading workstation data platform",
        manufacturer_model_name="Label export",
        software_versions="1",
        device_serial_number="0",
        omit_empty_frames=False,
    )
    # highdicom stamps the time of creation; the export's dates come from the (shifted) study instead.
    for keyword in ("ContentDate", "SeriesDate", "InstanceCreationDate"):
        if keyword in seg:
            setattr(seg, keyword, first.get("StudyDate", "19000101"))
    for keyword in ("ContentTime", "SeriesTime", "InstanceCreationTime"):
        if keyword in seg:
            setattr(seg, keyword, first.get("StudyTime", "000000"))
    _fix_generated_values(seg, seed=seg_sop_uid, when=f"{first.get('StudyDate', '19000101')}000000")
    return seg


def _fix_generated_values(seg: Segmentation, *, seed: str, when: str) -> None:
    """highdicom draws random UIDs (the Dimension Organization UID) and stamps the contribution time:
    derive both from the SEG itself."""
    replacements: dict[str, str] = {}

    def visit(dataset, element) -> None:
        if element.keyword == "ContributionDateTime":
            element.value = when
        if element.VR == "UI" and isinstance(element.value, str) and element.value.startswith(HIGHDICOM_UID_PREFIX):
            number = int(hashlib.sha256(f"{seed}/{len(replacements)}".encode()).hexdigest()[:30], 16)
            element.value = replacements.setdefault(element.value, f"2.25.{number}")

    seg.walk(visit)


def _rasterise(label: dict, rows: int, columns: int) -> np.ndarray:
    canvas = Image.new("1", (columns, rows), 0)
    draw = ImageDraw.Draw(canvas)
    geometry = label["geometry"]
    if label["geometry_kind"] == "box":
        x0, y0, x1, y1 = geometry["box"]
        draw.rectangle([x0, y0, max(x0, x1 - 1), max(y0, y1 - 1)], fill=1)
    else:
        draw.polygon([tuple(point) for point in geometry["polygon"]], fill=1)
    return np.array(canvas, dtype=bool)
