"""Checking an AI result against THE AI RESULT CONTRACT and against the study it names.

Every refusal is a ResultInvalid naming the field ("findings[3].box", "heatmaps[0].data") so an
engine's developer can fix the body; nothing here writes to the database."""

import binascii
import hashlib
import io
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Max, Sum
from django.utils.translation import gettext as _
from PIL import Image, UnidentifiedImageError

from ai_overlays.models import AIEngine, AIModel, GeometryKind
from worklist.models import Instance, Series, Study

MAX_RESULT_ID = 128
MAX_FINDINGS = 10_000
MAX_HEATMAPS = 10_000
MAX_LABEL = 200
MAX_SUMMARY = 10_000
MAX_POLYGON_POINTS = 10_000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SLUG = re.compile(r"^[-a-zA-Z0-9_]{1,40}$")
GEOMETRY_KEYS = ("point", "box", "polygon", "box3d")


class ResultInvalid(Exception):
    """The body breaks the contract; `field` names where (HTTP 400)."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class StudyNotFound(ResultInvalid):
    """No study with that UID here (HTTP 404); a ResultInvalid so importers need catch one class."""

    def __init__(self) -> None:
        super().__init__("study_instance_uid", _("No study with this Study Instance UID."))


class ResultForbidden(Exception):
    """The engine may not post for this model or this study's site (HTTP 403)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class CheckedResult:
    """A valid result, ready to store: rows for Finding and Heatmap without their result."""

    ai_model: AIModel
    study: Study
    result_id: str
    body_sha256: str
    case_score: float | None
    triage_flag: bool
    summary: str
    findings: list[dict] = field(default_factory=list)
    heatmaps: list[dict] = field(default_factory=list)  # each with "png" bytes or "raw" bytes to encode


@dataclass
class _Frame:
    series_instance_uid: str
    rows: int | None
    columns: int | None
    frames: int


def body_sha256(payload: dict) -> str:
    """SHA-256 of the canonical JSON (sorted keys, no whitespace): key order and spacing don't matter."""
    try:
        canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError as error:  # NaN or Infinity somewhere
        raise ResultInvalid("body", _("Numbers must be finite.")) from error
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_header(payload: Any, *, engine: AIEngine | None) -> tuple[AIModel, Study, str]:
    """The cheap part: result id, model, study and the engine's scope. Run before anything costly."""
    if not isinstance(payload, dict):
        raise ResultInvalid("body", _("The body must be a JSON object."))
    result_id = payload.get("result_id")
    if not isinstance(result_id, str) or not 1 <= len(result_id) <= MAX_RESULT_ID:
        raise ResultInvalid("result_id", _("Must be a string of 1 to 128 characters."))
    ai_model = _check_model(payload.get("model"))
    if engine is not None and not engine.ai_models.filter(pk=ai_model.pk).exists():
        raise ResultForbidden("model_not_in_engine_scope")
    study_uid = payload.get("study_instance_uid")
    if not isinstance(study_uid, str) or not study_uid:
        raise ResultInvalid("study_instance_uid", _("Required."))
    study = Study.objects.filter(study_instance_uid=study_uid).first()
    if study is None:
        raise StudyNotFound()
    if engine is not None and not engine.sites.filter(pk=study.site_id).exists():
        raise ResultForbidden("study_site_not_in_engine_scope")
    return ai_model, study, result_id


def check_body(payload: dict, *, ai_model: AIModel, study: Study, result_id: str) -> CheckedResult:
    """The rest of the contract, with every referenced series and instance checked against the study."""
    digest = body_sha256(payload)
    summary = payload.get("summary", "")
    if not isinstance(summary, str) or len(summary) > MAX_SUMMARY:
        raise ResultInvalid("summary", _("Must be text of at most %(n)d characters.") % {"n": MAX_SUMMARY})
    triage_flag = payload.get("triage_flag", False)
    if not isinstance(triage_flag, bool):
        raise ResultInvalid("triage_flag", _("Must be true or false."))
    findings = _list(payload, "findings", MAX_FINDINGS)
    heatmaps = _list(payload, "heatmaps", MAX_HEATMAPS)
    references = _References(study, findings, heatmaps)
    return CheckedResult(
        ai_model=ai_model,
        study=study,
        result_id=result_id,
        body_sha256=digest,
        case_score=_score(payload.get("case_score"), "case_score"),
        triage_flag=triage_flag,
        summary=summary,
        findings=[_finding(item, f"findings[{index}]", references) for index, item in enumerate(findings)],
        heatmaps=_heatmaps(heatmaps, references),
    )


def _check_model(model: Any) -> AIModel:
    keys = ("vendor", "product", "version")
    if not isinstance(model, dict) or not all(isinstance(model.get(key), str) for key in keys):
        raise ResultInvalid("model", _("Must be an object with vendor, product and version."))
    found = AIModel.objects.filter(vendor=model["vendor"], product=model["product"], version=model["version"]).first()
    if found is None:
        raise ResultInvalid("model", _("This model is not registered."))
    if not found.is_active:
        raise ResultInvalid("model", _("This model is not active."))
    return found


def _list(payload: dict, key: str, limit: int) -> list:
    value = payload.get(key, [])
    if not isinstance(value, list):
        raise ResultInvalid(key, _("Must be a list."))
    if len(value) > limit:
        raise ResultInvalid(key, _("At most %(n)d items.") % {"n": limit})
    return value


def _number(value: Any, name: str) -> float:
    # bool is an int in Python; JSON true is not a number.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ResultInvalid(name, _("Must be a number."))
    return float(value)


def _score(value: Any, name: str) -> float | None:
    if value is None:
        return None
    score = _number(value, name)
    if not 0 <= score <= 100:
        raise ResultInvalid(name, _("Must be between 0 and 100."))
    return score


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ResultInvalid(name, _("Must be a whole number of 1 or more."))
    return value


class _References:
    """The study's series and instances that the body names, fetched in two queries."""

    def __init__(self, study: Study, findings: list, heatmaps: list):
        items = [item for item in findings + heatmaps if isinstance(item, dict)]
        sop_uids = {item.get("sop_instance_uid") for item in items} - {None, ""}
        series_uids = {item.get("series_instance_uid") for item in items} - {None, ""}
        self.instances = {
            row["sop_instance_uid"]: _Frame(
                row["series__series_instance_uid"], row["rows"], row["columns"], row["number_of_frames"]
            )
            for row in Instance.objects.filter(
                series__study=study, sop_instance_uid__in=[uid for uid in sop_uids if isinstance(uid, str)]
            ).values("sop_instance_uid", "series__series_instance_uid", "rows", "columns", "number_of_frames")
        }
        self.series = {
            row["series_instance_uid"]: row
            for row in Series.objects.filter(
                study=study, series_instance_uid__in=[uid for uid in series_uids if isinstance(uid, str)]
            )
            .annotate(
                count=Count("instances"),
                frames=Sum("instances__number_of_frames"),
                max_rows=Max("instances__rows"),
                max_columns=Max("instances__columns"),
            )
            .values("series_instance_uid", "count", "frames", "max_rows", "max_columns")
        }

    def series_uid(self, item: dict, name: str, *, required: bool) -> str:
        uid = item.get("series_instance_uid", "")
        if uid in (None, ""):
            if required:
                raise ResultInvalid(f"{name}.series_instance_uid", _("Required."))
            return ""
        if uid not in self.series:
            raise ResultInvalid(f"{name}.series_instance_uid", _("Not a series of this study."))
        return uid

    def frame(self, item: dict, name: str, *, required: bool) -> tuple[str, _Frame | None, int]:
        """(sop uid, its instance, frame number) after checking they belong to the study."""
        uid = item.get("sop_instance_uid", "")
        frame = _positive_int(item.get("frame", 1), f"{name}.frame")
        if uid in (None, ""):
            if required:
                raise ResultInvalid(f"{name}.sop_instance_uid", _("Required."))
            return "", None, frame
        instance = self.instances.get(uid) if isinstance(uid, str) else None
        if instance is None:
            raise ResultInvalid(f"{name}.sop_instance_uid", _("Not an instance of this study."))
        series_uid = item.get("series_instance_uid")
        if series_uid not in (None, "", instance.series_instance_uid):
            raise ResultInvalid(f"{name}.series_instance_uid", _("Not the series of this instance."))
        if frame > instance.frames:
            raise ResultInvalid(f"{name}.frame", _("This instance has %(n)d frame(s).") % {"n": instance.frames})
        return uid, instance, frame


def _finding(item: Any, name: str, references: _References) -> dict:
    if not isinstance(item, dict):
        raise ResultInvalid(name, _("Must be an object."))
    finding_type = item.get("type")
    if not isinstance(finding_type, str) or not SLUG.match(finding_type):
        raise ResultInvalid(f"{name}.type", _("Must be a slug of 1 to 40 letters, digits, '-' or '_'."))
    label = item.get("label", "")
    if not isinstance(label, str) or len(label) > MAX_LABEL:
        raise ResultInvalid(f"{name}.label", _("Must be text of at most %(n)d characters.") % {"n": MAX_LABEL})
    given = [key for key in GEOMETRY_KEYS if key in item]
    if len(given) > 1:
        raise ResultInvalid(name, _("Give at most one of point, box, polygon and box3d."))
    kind = given[0] if given else GeometryKind.NONE
    row = {
        "finding_type": finding_type,
        "label": label,
        "score": _score(item.get("score"), f"{name}.score"),
        "geometry_kind": kind,
        "geometry": {},
        "series_instance_uid": "",
        "sop_instance_uid": "",
        "frame": 1,
    }
    if kind == GeometryKind.BOX_3D:
        if item.get("sop_instance_uid") not in (None, ""):
            raise ResultInvalid(f"{name}.sop_instance_uid", _("A 3D box spans a series: leave this out."))
        series_uid = references.series_uid(item, name, required=True)
        row["series_instance_uid"] = series_uid
        row["geometry"] = _box3d(item["box3d"], f"{name}.box3d", references.series[series_uid])
        return row
    sop_uid, instance, frame = references.frame(item, name, required=kind != GeometryKind.NONE)
    row.update(sop_instance_uid=sop_uid, frame=frame)
    row["series_instance_uid"] = (
        instance.series_instance_uid if instance else references.series_uid(item, name, required=False)
    )
    if kind != GeometryKind.NONE:
        assert instance is not None
        row["geometry"] = _geometry_2d(kind, item[kind], f"{name}.{kind}", instance)
    return row


def _point(value: Any, name: str, columns: int, rows: int) -> list[float]:
    if not isinstance(value, list) or len(value) != 2:
        raise ResultInvalid(name, _("Must be [x, y]."))
    x, y = (_number(coordinate, name) for coordinate in value)
    if not (0 <= x <= columns and 0 <= y <= rows):
        raise ResultInvalid(name, _("Outside the image (%(columns)d x %(rows)d).") % {"columns": columns, "rows": rows})
    return [x, y]


def _geometry_2d(kind: str, value: Any, name: str, instance: _Frame) -> dict:
    if not instance.rows or not instance.columns:
        raise ResultInvalid(name, _("The instance has no image to draw on."))
    columns, rows = instance.columns, instance.rows
    if kind == GeometryKind.POINT:
        return {"point": _point(value, name, columns, rows)}
    if kind == GeometryKind.BOX:
        if not isinstance(value, list) or len(value) != 4:
            raise ResultInvalid(name, _("Must be [x0, y0, x1, y1]."))
        x0, y0 = _point(value[:2], name, columns, rows)
        x1, y1 = _point(value[2:], name, columns, rows)
        if not (x0 < x1 and y0 < y1):
            raise ResultInvalid(name, _("Needs x0 < x1 and y0 < y1."))
        return {"box": [x0, y0, x1, y1]}
    if not isinstance(value, list) or not 3 <= len(value) <= MAX_POLYGON_POINTS:
        raise ResultInvalid(name, _("Must be a list of at least 3 points [x, y]."))
    return {"polygon": [_point(point, name, columns, rows) for point in value]}


def _box3d(value: Any, name: str, series: dict) -> dict:
    if not isinstance(value, dict) or set(value) != {"min", "max"}:
        raise ResultInvalid(name, _('Must be {"min": [x, y, slice], "max": [x, y, slice]}.'))
    # A series of one multi-frame instance has its slices as frames.
    slices = (series["frames"] or 0) if series["count"] == 1 else series["count"]
    limits = (series["max_columns"] or 0, series["max_rows"] or 0, slices - 1)
    corners = []
    for corner in ("min", "max"):
        point = value[corner]
        if not isinstance(point, list) or len(point) != 3:
            raise ResultInvalid(f"{name}.{corner}", _("Must be [x, y, slice]."))
        x, y = _number(point[0], f"{name}.{corner}"), _number(point[1], f"{name}.{corner}")
        if isinstance(point[2], bool) or not isinstance(point[2], int):
            raise ResultInvalid(f"{name}.{corner}", _("The slice must be a whole number."))
        if not all(0 <= coordinate <= limit for coordinate, limit in zip((x, y, point[2]), limits, strict=True)):
            raise ResultInvalid(f"{name}.{corner}", _("Outside the series."))
        corners.append([x, y, point[2]])
    if not all(low <= high for low, high in zip(*corners, strict=True)):
        raise ResultInvalid(name, _("min must not exceed max."))
    return {"min": corners[0], "max": corners[1]}


def _heatmaps(items: list, references: _References) -> list[dict]:
    rows_out, seen = [], set()
    for index, item in enumerate(items):
        name = f"heatmaps[{index}]"
        if not isinstance(item, dict):
            raise ResultInvalid(name, _("Must be an object."))
        sop_uid, instance, frame = references.frame(item, name, required=True)
        assert instance is not None
        if (sop_uid, frame) in seen:
            raise ResultInvalid(name, _("One heatmap per frame."))
        seen.add((sop_uid, frame))
        rows = _positive_int(item.get("rows"), f"{name}.rows")
        columns = _positive_int(item.get("columns"), f"{name}.columns")
        if (rows, columns) != (instance.rows, instance.columns):
            raise ResultInvalid(
                f"{name}.rows",
                _("The frame is %(rows)d x %(columns)d.")
                % {"rows": instance.rows or 0, "columns": instance.columns or 0},
            )
        row = {
            "series_instance_uid": instance.series_instance_uid,
            "sop_instance_uid": sop_uid,
            "frame": frame,
            "rows": rows,
            "columns": columns,
        }
        data = _base64(item.get("data"), f"{name}.data")
        encoding = item.get("encoding")
        if encoding == "png":
            _check_png(data, f"{name}.data", rows=rows, columns=columns)
            row["png"] = data
        elif encoding == "raw":
            if len(data) != rows * columns:
                raise ResultInvalid(f"{name}.data", _("Raw data must be rows x columns bytes."))
            row["raw"] = data
        else:
            raise ResultInvalid(f"{name}.encoding", _('Must be "png" or "raw".'))
        rows_out.append(row)
    return rows_out


def _base64(value: Any, name: str) -> bytes:
    if not isinstance(value, str):
        raise ResultInvalid(name, _("Must be base64 text."))
    try:
        return binascii.a2b_base64(value, strict_mode=True)
    except (binascii.Error, ValueError) as error:
        raise ResultInvalid(name, _("Not valid base64.")) from error


def _check_png(data: bytes, name: str, *, rows: int, columns: int) -> None:
    if not data.startswith(PNG_SIGNATURE):
        raise ResultInvalid(name, _("Not a PNG image."))
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
            # The header is read first: a wrong size is refused before any pixel is inflated.
            if image.mode != "L" or image.size != (columns, rows):
                raise ResultInvalid(name, _("Must be an 8-bit greyscale PNG of rows x columns."))
            image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise ResultInvalid(name, _("The PNG does not decode.")) from error
