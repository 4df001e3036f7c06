"""WADO-RS (PS3.18 10.4) for other viewers: frames, rendered images and metadata of the archive,
with a Bearer token or a session, through the same access checks as the viewer. Reading a study's
or a series' metadata is how another viewer opens it, so that is what is audited.

Frames: `multipart/related; type="application/octet-stream"` gives the native stored values in
Explicit VR Little Endian layout (decoded if the file is compressed; no modality LUT, as the
metadata carries it); `transfer-syntax=*`, the stored syntax, or its image/* media type give the
stored bitstream untouched."""

import logging
import uuid
from dataclasses import dataclass

from django.core.exceptions import BadRequest
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from pydicom.uid import UID, ExplicitVRLittleEndian

from accounts import audit
from accounts.models import AuditAction, User
from dicomkit import dicom_json, rendering
from dicomkit.multipart import MalformedBody, parse_content_type
from dicomkit.pixels import PixelDecodeError, served_array, stored_frame
from reading import pixel_cache
from reading.api_access import access_instance, access_series
from reading.manifest import default_windows, instance_frames, pixel_header
from worklist import archive_files
from worklist.access import access_study
from worklist.json_api import api_view, error_response
from worklist.models import Instance, Study

logger = logging.getLogger(__name__)

OCTET_STREAM = "application/octet-stream"
DICOM_JSON = "application/dicom+json"
MAX_FRAMES = 1024
# PS3.18 table 8.7.3-5: the media type of a frame in each compressed transfer syntax.
IMAGE_MEDIA_TYPES = {
    "1.2.840.10008.1.2.4.50": "image/jpeg",
    "1.2.840.10008.1.2.4.51": "image/jpeg",
    "1.2.840.10008.1.2.4.57": "image/jpeg",
    "1.2.840.10008.1.2.4.70": "image/jpeg",
    "1.2.840.10008.1.2.4.80": "image/jls",
    "1.2.840.10008.1.2.4.81": "image/jls",
    "1.2.840.10008.1.2.4.90": "image/jp2",
    "1.2.840.10008.1.2.4.91": "image/jp2",
    "1.2.840.10008.1.2.4.201": "image/jphc",
    "1.2.840.10008.1.2.4.202": "image/jphc",
    "1.2.840.10008.1.2.4.203": "image/jphc",
    "1.2.840.10008.1.2.5": "image/dicom-rle",
}


@dataclass(frozen=True)
class FrameEncoding:
    media_type: str
    transfer_syntax: str
    keep_compressed: bool


@api_view
def frames(request: HttpRequest, study_uid: str, series_uid: str, sop_uid: str, frame_list: str) -> HttpResponse:
    _, instance = access_instance(
        request.user, sop_uid, source=audit.client_address(request), study_uid=study_uid, series_uid=series_uid
    )
    numbers = _frame_numbers(frame_list, instance.number_of_frames)
    encoding = frame_encoding(request.headers.get("Accept", ""), instance.transfer_syntax_uid)
    if encoding is None:
        return error_response("frames are available as application/octet-stream or in their stored syntax", 406)
    if not instance.has_pixels:
        raise Http404("the instance has no pixel data")
    header = pixel_header(instance)
    path = archive_files.path_of(instance.file_key)
    try:
        parts = [stored_frame(path, number, header, keep_compressed=encoding.keep_compressed) for number in numbers]
    except PixelDecodeError as problem:
        return error_response(problem.reason, 422)
    part_type = f"{encoding.media_type}; transfer-syntax={encoding.transfer_syntax}"
    return multipart_response(parts, part_type=part_type, type_parameter=encoding.media_type)


@api_view
def rendered(request: HttpRequest, study_uid: str, series_uid: str, sop_uid: str, number: int = 1) -> HttpResponse:
    _, instance = access_instance(
        request.user, sop_uid, source=audit.client_address(request), study_uid=study_uid, series_uid=series_uid
    )
    media_type = rendered_media_type(request.headers.get("Accept", ""))
    if media_type is None:
        return error_response("rendered images are available as image/jpeg or image/png", 406)
    frame = next((frame for frame in instance_frames([instance]) if frame.number == number), None)
    if frame is None:
        raise Http404(f"the instance has no image frame {number}")
    decoded = pixel_cache.frames([frame.source])[0]
    if decoded.problem:
        return error_response(decoded.problem, 422)
    center, width = _window(request, default_windows([frame])[frame.index])
    image = rendering.windowed(
        served_array(decoded.data, frame.header),
        center=center,
        width=width,
        invert=frame.header.served_photometric == "MONOCHROME1",
    )
    quality = _bounded_int(request.GET.get("quality", "90"), 1, 100, "quality")
    return HttpResponse(rendering.encode(image, media_type, quality=quality), content_type=media_type)


@api_view
def study_metadata(request: HttpRequest, study_uid: str) -> HttpResponse:
    study = access_study(request.user, study_uid, source=audit.client_address(request))
    _record_open(request, study)
    return metadata_response(request, Instance.objects.filter(series__study=study))


@api_view
def series_metadata(request: HttpRequest, study_uid: str, series_uid: str) -> HttpResponse:
    study, series = access_series(request.user, series_uid, source=audit.client_address(request), study_uid=study_uid)
    _record_open(request, study)
    return metadata_response(request, series.instances.all())


@api_view
def instance_metadata(request: HttpRequest, study_uid: str, series_uid: str, sop_uid: str) -> HttpResponse:
    _, instance = access_instance(
        request.user, sop_uid, source=audit.client_address(request), study_uid=study_uid, series_uid=series_uid
    )
    return metadata_response(request, Instance.objects.filter(pk=instance.pk))


@api_view
def bulk_data(request: HttpRequest, study_uid: str, series_uid: str, sop_uid: str, tag: str) -> HttpResponse:
    _, instance = access_instance(
        request.user, sop_uid, source=audit.client_address(request), study_uid=study_uid, series_uid=series_uid
    )
    try:
        value = dicom_json.bulk_value(archive_files.path_of(instance.file_key), int(tag, 16))
    except ValueError:
        raise BadRequest("the tag must be 8 hexadecimal digits") from None
    if value is None:
        raise Http404("no such bulk data element")
    return multipart_response([value], part_type=OCTET_STREAM, type_parameter=OCTET_STREAM)


def metadata_response(request: HttpRequest, instances: QuerySet[Instance]) -> HttpResponse:
    if not _accepts(request.headers.get("Accept", ""), (DICOM_JSON, "application/json")):
        return error_response("metadata is available as application/dicom+json", 406)
    ordered = instances.select_related("series__study").order_by("series_id", "instance_number", "id")
    documents = [_instance_json(request, instance) for instance in ordered]
    return JsonResponse(documents, safe=False, content_type=DICOM_JSON)


def _instance_json(request: HttpRequest, instance: Instance) -> dict:
    uids = (
        instance.series.study.study_instance_uid,
        instance.series.series_instance_uid,
        instance.sop_instance_uid,
    )

    def bulk_data_uri(tag: str) -> str:
        return request.build_absolute_uri(reverse("dicomweb:bulk", args=[*uids, tag]))

    pixel_data_uri = None
    if instance.has_pixels:
        frame_list = ",".join(str(number) for number in range(1, instance.number_of_frames + 1))
        pixel_data_uri = request.build_absolute_uri(reverse("dicomweb:frames", args=[*uids, frame_list]))
    compressed = UID(instance.transfer_syntax_uid).is_compressed
    try:
        return dicom_json.metadata(
            archive_files.path_of(instance.file_key),
            bulk_data_uri=bulk_data_uri,
            pixel_data_uri=pixel_data_uri,
            pixel_data_vr="OB" if compressed or (instance.bits_allocated or 16) <= 8 else "OW",
        )
    except Exception as exc:
        # One unreadable header must not cost the client the rest of the study: its UIDs at least.
        # Only the exception's type is logged: pydicom's messages can quote values (names).
        logger.warning("metadata of instance %s cannot be read (%s)", instance.pk, type(exc).__name__)
        return {
            "00080016": {"vr": "UI", "Value": [instance.sop_class_uid]},
            "00080018": {"vr": "UI", "Value": [instance.sop_instance_uid]},
            "0020000D": {"vr": "UI", "Value": [uids[0]]},
            "0020000E": {"vr": "UI", "Value": [uids[1]]},
        }


def _record_open(request: HttpRequest, study: Study) -> None:
    user: User = request.user
    audit.record(
        action=AuditAction.STUDY_VIEWED,
        user=user,
        source=audit.client_address(request),
        study_uid=study.study_instance_uid,
        patient_ref=study.patient_id,
        detail={"via": "dicomweb"},
    )


# --- content negotiation ---------------------------------------------------------------------------
def frame_encoding(accept: str, stored_syntax: str) -> FrameEncoding | None:
    """What to send for the Accept header of a frames request, or None when nothing it names can
    be given (PS3.18 8.7.3.5: multipart/related with type and transfer-syntax parameters)."""
    compressed = UID(stored_syntax).is_compressed
    stored_media_type = IMAGE_MEDIA_TYPES.get(stored_syntax, OCTET_STREAM) if compressed else OCTET_STREAM
    native = FrameEncoding(OCTET_STREAM, ExplicitVRLittleEndian, keep_compressed=False)
    for media_type, parameters in _accepted(accept):
        if media_type in ("*/*", "multipart/*"):
            return native
        part_type = parameters.get("type", OCTET_STREAM).lower()
        if media_type != "multipart/related" or part_type not in (OCTET_STREAM, "*/*", stored_media_type):
            continue
        syntax = parameters.get("transfer-syntax", "")
        if syntax in ("*", stored_syntax) or (compressed and not syntax and part_type == stored_media_type):
            # As stored; an octet-stream request gets octet-stream parts whatever the syntax.
            part_media_type = stored_media_type if part_type == stored_media_type else OCTET_STREAM
            stored = stored_syntax if compressed else ExplicitVRLittleEndian
            return FrameEncoding(part_media_type, stored, keep_compressed=True)
        if syntax in ("", ExplicitVRLittleEndian) and part_type in (OCTET_STREAM, "*/*"):
            return native
    return None


def rendered_media_type(accept: str) -> str | None:
    for media_type, _ in _accepted(accept or "image/jpeg"):
        if media_type in ("*/*", "image/*", "image/jpeg"):
            return "image/jpeg"
        if media_type == "image/png":
            return "image/png"
    return None


def _accepts(accept: str, media_types: tuple[str, ...]) -> bool:
    return any(media_type in (*media_types, "*/*", "application/*") for media_type, _ in _accepted(accept or "*/*"))


def _accepted(accept: str) -> list[tuple[str, dict[str, str]]]:
    """The media types of an Accept header, most preferred first (an absent header accepts all)."""
    entries = []
    for position, item in enumerate(_split_accept(accept or "*/*")):
        try:
            media_type, parameters = parse_content_type(item)
        except MalformedBody:
            continue
        try:
            quality = float(parameters.get("q", "1"))
        except ValueError:
            quality = 0.0
        if quality > 0:
            entries.append((-quality, position, media_type, parameters))
    return [(media_type, parameters) for _, _, media_type, parameters in sorted(entries)]


def _split_accept(accept: str) -> list[str]:
    """Split at commas outside quoted strings."""
    items, current, quoted = [], [], False
    for character in accept:
        if character == '"':
            quoted = not quoted
        if character == "," and not quoted:
            items.append("".join(current))
            current = []
        else:
            current.append(character)
    items.append("".join(current))
    return [item for item in items if item.strip()]


# --- small helpers ---------------------------------------------------------------------------------
def multipart_response(parts: list[bytes], *, part_type: str, type_parameter: str) -> HttpResponse:
    boundary = uuid.uuid4().hex
    head = f"--{boundary}\r\nContent-Type: {part_type}\r\n\r\n".encode()
    body = b"".join(head + part + b"\r\n" for part in parts) + f"--{boundary}--\r\n".encode()
    content_type = f'multipart/related; type="{type_parameter}"; boundary={boundary}'
    return HttpResponse(body, content_type=content_type)


def _frame_numbers(frame_list: str, frame_count: int) -> list[int]:
    try:
        numbers = [int(item) for item in frame_list.split(",")]
    except ValueError:
        raise BadRequest("frame numbers must be whole numbers separated by commas") from None
    if not numbers or len(numbers) > MAX_FRAMES:
        raise BadRequest(f"ask for 1 to {MAX_FRAMES} frames")
    if any(not 1 <= number <= frame_count for number in numbers):
        raise Http404(f"the instance has frames 1 to {frame_count}")
    return numbers


def _window(request: HttpRequest, default) -> tuple[float, float]:
    """`window=center,width[,function]` (PS3.18 8.3.5.1.4; only the linear function), or the default."""
    value = request.GET.get("window")
    if not value:
        return default.center, default.width
    parts = value.split(",")
    try:
        center, width = float(parts[0]), float(parts[1])
    except (IndexError, ValueError):
        raise BadRequest("window must be center,width[,linear]") from None
    if width < 1 or (len(parts) > 2 and parts[2].lower() != "linear"):
        raise BadRequest("window must be center,width[,linear] with a width of 1 or more")
    return center, width


def _bounded_int(value: str, low: int, high: int, name: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = low - 1
    if not low <= number <= high:
        raise BadRequest(f"{name} must be a whole number from {low} to {high}")
    return number
