"""Checking geometry a radiologist draws (a corrected AI finding, a missed finding) exactly as the AI
intake checks an engine's: same conventions, inside the image, on an instance of this study."""

from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _

from ai_overlays.models import GeometryKind

# The intake's own checks, so a reader's box and an engine's box obey one rule.
from ai_overlays.result_validation import ResultInvalid, _finding, _References
from reading.edit_rights import ReadingRefused
from worklist.models import Study

DRAWN_KINDS = (GeometryKind.POINT, GeometryKind.BOX, GeometryKind.POLYGON, GeometryKind.BOX_3D)


@dataclass
class CheckedGeometry:
    kind: str
    geometry: dict
    series_instance_uid: str
    sop_instance_uid: str
    frame: int


def check_geometry(
    *,
    study: Study,
    kind: str,
    geometry: Any,
    series_instance_uid: str = "",
    sop_instance_uid: str = "",
    frame: Any = 1,
    kinds: tuple[str, ...] = DRAWN_KINDS,
) -> CheckedGeometry:
    """`geometry` as Finding.geometry stores it ({"box": [...]}, {"min": ..., "max": ...}) or its bare
    value ([x0, y0, x1, y1]); raises ReadingRefused (400) naming the field."""
    if kind not in kinds:
        raise ReadingRefused(
            "invalid", _("Choose a point, a box or an outline."), http_status=400, field="geometry_kind"
        )
    value = geometry.get(kind, geometry) if isinstance(geometry, dict) and kind != GeometryKind.BOX_3D else geometry
    item: dict[str, Any] = {"type": "reader", kind: value, "frame": frame}
    if series_instance_uid:
        item["series_instance_uid"] = series_instance_uid
    if sop_instance_uid and kind != GeometryKind.BOX_3D:
        item["sop_instance_uid"] = sop_instance_uid
    try:
        row = _finding(item, "geometry", _References(study, [item], []))
    except ResultInvalid as error:
        field = error.field.replace(f"geometry.{kind}", "geometry")
        raise ReadingRefused("invalid", error.message, http_status=400, field=field) from error
    return CheckedGeometry(
        kind=kind,
        geometry=row["geometry"],
        series_instance_uid=row["series_instance_uid"],
        sop_instance_uid=row["sop_instance_uid"],
        frame=row["frame"],
    )
