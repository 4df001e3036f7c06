"""The viewer's pixel API: the manifest of a study, frames as raw little-endian typed arrays (a
range of a series in one response, or one frame), and series thumbnails.

Bodies are sent from memory rather than as FileResponse, which under ASGI reads its file with a
thread hop per 64 KB block. Under ASGI a range of frames goes out as the frames themselves, one
after the other, never joined: joining 32 MB means a fresh allocation and copy per request, whose
page faults were a large share of a warm request here. When every frame's outcome is known
without decoding (native, cached, or a known problem), the range is read a batch at a time while
it is sent, so its first bytes leave at once instead of after the whole range is read."""

from collections.abc import AsyncIterator

from asgiref.sync import sync_to_async
from django.core.exceptions import BadRequest
from django.core.handlers.asgi import ASGIRequest
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, JsonResponse, StreamingHttpResponse

from accounts import audit
from accounts.models import AuditAction
from dicomkit import rendering
from dicomkit.pixels import served_array
from reading import pixel_cache
from reading.api_access import access_instance, access_series
from reading.manifest import Frame, default_windows, frames_etag, instance_frames, series_frames, study_manifest
from worklist.access import access_study
from worklist.json_api import Conflict, api_view, error_response

MAX_FRAMES_PER_REQUEST = 512
FRAMES_PER_READ = 8  # frames read per thread hop while a range streams (4 MB of a 512x512 CT)
IMMUTABLE = "private, max-age=31536000, immutable"
REVALIDATE = "private, no-cache"
THUMBNAIL_SIZE = 128


@api_view
def manifest(request: HttpRequest, study_uid: str) -> HttpResponse:
    source = audit.client_address(request)
    study = access_study(request.user, study_uid, source=source)
    # The manifest is the open of a study; its frames are not audited one by one.
    audit.record(
        action=AuditAction.STUDY_VIEWED,
        user=request.user,
        source=source,
        study_uid=study.study_instance_uid,
        patient_ref=study.patient_id,
        detail={"via": "viewer"},
    )
    return JsonResponse(study_manifest(study, user=request.user))


@api_view
async def series_frames_view(request: HttpRequest, series_uid: str) -> HttpResponseBase:
    frames = await sync_to_async(_requested_range)(request, series_uid)
    return await frames_response(request, frames)


def _requested_range(request: HttpRequest, series_uid: str) -> list[Frame]:
    _, series = access_series(request.user, series_uid, source=audit.client_address(request))
    frames = series_frames(series)
    version = request.GET.get("v")
    if version and version != frames_etag(frames).strip('"'):
        raise Conflict("the series has changed since its manifest was read: read it again")
    start, count = _frame_range(request, len(frames))
    return frames[start : start + count]


@api_view
async def frame_view(request: HttpRequest, sop_uid: str, number: int) -> HttpResponseBase:
    frame = await sync_to_async(_requested_frame)(request, sop_uid, number)
    etag = frames_etag([frame])
    if _not_modified(request, etag):
        return _not_modified_response(etag)
    (decoded,) = await decoded_frames([frame])
    if decoded.problem:
        return error_response(decoded.problem, 422)
    return _pixel_response(decoded.data, etag, count=1)


def _requested_frame(request: HttpRequest, sop_uid: str, number: int) -> Frame:
    _, instance = access_instance(request.user, sop_uid, source=audit.client_address(request))
    frame = next((frame for frame in instance_frames([instance]) if frame.number == number), None)
    if frame is None:
        raise Http404(f"frame {number} does not exist")
    return frame


async def decoded_frames(frames: list[Frame]) -> list[pixel_cache.FrameBytes]:
    """Decoding or reading frames runs off the one thread that serves Django's sync views, so
    that a cold series does not hold up every other page of the process; it touches no database."""
    return await sync_to_async(pixel_cache.frames, thread_sensitive=False)([frame.source for frame in frames])


@api_view
def thumbnail(request: HttpRequest, series_uid: str) -> HttpResponse:
    _, series = access_series(request.user, series_uid, source=audit.client_address(request))
    frames = [frame for frame in series_frames(series) if not frame.problem]
    if not frames:
        return error_response("the series has no frame to show", 404)
    frame = frames[len(frames) // 2]
    etag = frames_etag([frame]).replace('"', '"thumbnail-', 1)
    if _not_modified(request, etag):
        return _not_modified_response(etag, cache_control=REVALIDATE)
    decoded = pixel_cache.frames([frame.source])[0]
    if decoded.problem:
        return error_response(decoded.problem, 422)
    window = default_windows([frame])[frame.index]
    image = rendering.windowed(
        served_array(decoded.data, frame.header),
        center=window.center,
        width=window.width,
        invert=frame.header.served_photometric == "MONOCHROME1",
    )
    response = HttpResponse(rendering.encode(image, "image/png", max_size=THUMBNAIL_SIZE), content_type="image/png")
    response["ETag"] = etag
    response["Cache-Control"] = REVALIDATE  # the middle frame moves while a series arrives
    return response


async def frames_response(request: HttpRequest, frames: list[Frame]) -> HttpResponseBase:
    etag = frames_etag(frames)
    if _not_modified(request, etag):
        return _not_modified_response(etag)
    sources = [frame.source for frame in frames]
    streamed = isinstance(request, ASGIRequest)
    known = await sync_to_async(pixel_cache.known_problems, thread_sensitive=False)(sources) if streamed else None
    if known is not None:
        response: HttpResponseBase = StreamingHttpResponse(
            _read_while_sending(sources, known), content_type="application/octet-stream"
        )
        problems = sorted(known)
    else:
        decoded = await decoded_frames(frames)
        problems = [index for index, outcome in enumerate(decoded) if outcome.problem]
        parts = [outcome.data for outcome in decoded]
        if streamed:
            response = StreamingHttpResponse(_one_by_one(parts), content_type="application/octet-stream")
        else:
            response = HttpResponse(b"".join(parts), content_type="application/octet-stream")
    if streamed:
        response["Content-Length"] = str(sum(source.header.frame_bytes for source in sources))
    _pixel_headers(response, etag, count=len(frames))
    if problems:
        response["X-Frame-Problems"] = ",".join(str(frames[index].index) for index in problems)
    return response


class UnexpectedFrameProblem(Exception):
    """A frame failed after the headers said it would not: the body is cut short, and the viewer
    marks the frames it did not get as not loaded rather than show zeros as an image."""


async def _read_while_sending(sources: list[pixel_cache.FrameSource], known: set[int]) -> AsyncIterator[bytes]:
    read = sync_to_async(pixel_cache.frames, thread_sensitive=False)
    for start in range(0, len(sources), FRAMES_PER_READ):
        for offset, outcome in enumerate(await read(sources[start : start + FRAMES_PER_READ])):
            if outcome.problem and start + offset not in known:
                raise UnexpectedFrameProblem(f"frame {start + offset} of the range: {outcome.problem}")
            yield outcome.data


async def _one_by_one(parts: list[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def _frame_range(request: HttpRequest, total: int) -> tuple[int, int]:
    try:
        start = int(request.GET.get("start", "0"))
        count = int(request.GET.get("count", str(MAX_FRAMES_PER_REQUEST)))
    except ValueError:
        raise BadRequest("start and count must be whole numbers") from None
    if start < 0 or not 1 <= count <= MAX_FRAMES_PER_REQUEST:
        raise BadRequest(f"start must be 0 or more and count 1 to {MAX_FRAMES_PER_REQUEST}")
    if start >= total:
        raise BadRequest(f"start {start} is past the last frame of the series ({total} frames)")
    return start, min(count, total - start)


def _pixel_response(data: bytes, etag: str, *, count: int) -> HttpResponse:
    response = HttpResponse(data, content_type="application/octet-stream")
    _pixel_headers(response, etag, count=count)
    return response


def _pixel_headers(response: HttpResponseBase, etag: str, *, count: int) -> None:
    response["ETag"] = etag
    response["Cache-Control"] = IMMUTABLE
    response["X-Frame-Count"] = str(count)


def _not_modified(request: HttpRequest, etag: str) -> bool:
    candidates = request.headers.get("If-None-Match", "")
    tags = {candidate.strip().removeprefix("W/") for candidate in candidates.split(",")}
    return etag in tags or "*" in tags


def _not_modified_response(etag: str, *, cache_control: str = IMMUTABLE) -> HttpResponse:
    response = HttpResponse(status=304)
    response["ETag"] = etag
    response["Cache-Control"] = cache_control
    return response
