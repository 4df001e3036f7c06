"""The viewer's pixel API through HTTP: the manifest, series frame ranges, single frames and
thumbnails; who may fetch them; caching; and, for every sample file, that the bytes served equal
pydicom's decoded frame after the modality LUT."""

import io
import random
import warnings
from unittest import mock

import numpy as np
import pytest
from django.urls import reverse
from PIL import Image
from pydicom import dcmread
from pydicom.filewriter import dcmwrite
from pydicom.pixels import apply_modality_lut
from pydicom.uid import RLELossless, generate_uid

from accounts.models import AuditAction, AuditEvent
from dicomkit.synthetic.chest_ct import chest_ct
from reading import pixel_cache
from tests.conftest import samples_dir
from tests.reading.expected_pixels import (
    NOT_IMAGES,
    as_served,
    expected_frame,
    frame_count,
    read,
    sample_files,
    sample_id,
)
from worklist.ingest import ingest

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _decode_cache_in_tmp(settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"
    # Hundreds of tests each make a user: a slow password hash would be most of their time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def store(data: bytes, site) -> str:
    result = ingest(data, site=site, source="test")
    assert result.ok, result.reason
    return result.study_instance_uid


def part10(dataset) -> bytes:
    output = io.BytesIO()
    dcmwrite(output, dataset, enforce_file_format=True)
    return output.getvalue()


@pytest.fixture(scope="module")
def thirteen_slices() -> list[bytes]:
    return [part10(dataset) for dataset in chest_ct(slices=13, size=64, site_code="SUWON").datasets]


@pytest.fixture
def thirteenth_slice(thirteen_slices) -> bytes:
    return thirteen_slices[12]


@pytest.fixture
def small_ct(sites, thirteen_slices):
    """The first 12 slices of a 64x64 chest CT at Suwon, stored in shuffled order with shuffled
    instance numbers."""
    datasets = [dcmread(io.BytesIO(data)) for data in thirteen_slices[:12]]
    numbers = list(range(1, 13))
    random.Random(7).shuffle(numbers)
    order = list(range(12))
    random.Random(8).shuffle(order)
    for position in order:
        datasets[position].InstanceNumber = numbers[position]
        store(part10(datasets[position]), sites["SUWON"])
    return datasets


def manifest_of(client, study_uid: str) -> dict:
    response = client.get(reverse("reading:manifest", args=[study_uid]))
    assert response.status_code == 200, response.content
    return response.json()


def hounsfield(dataset) -> np.ndarray:
    return apply_modality_lut(dataset.pixel_array, dataset).astype("<i2")


# --- the manifest --------------------------------------------------------------------------------
def test_manifest_lists_the_series_frames_in_slice_order_with_geometry(client, suwon_radiologist, small_ct):
    client.force_login(suwon_radiologist)
    manifest = manifest_of(client, small_ct[0].StudyInstanceUID)

    assert manifest["study"]["uid"] == small_ct[0].StudyInstanceUID
    assert manifest["study"]["site"] == "SUWON"
    (series,) = manifest["series"]
    assert series["frames_url"] == f"/reading/api/series/{small_ct[0].SeriesInstanceUID}/frames"
    frames = series["frames"]
    heights = [frame["image_position"][2] for frame in frames]
    assert heights == sorted(heights, reverse=True), "head first, by position, not by instance number"
    assert [frame["index"] for frame in frames] == list(range(12))
    first = frames[0]
    assert first["dtype"] == "int16"
    assert (first["rows"], first["columns"], first["photometric"]) == (64, 64, "MONOCHROME2")
    assert (first["window_center"], first["window_width"]) == (-600, 1500)
    assert first["rescaled"] is True and first["problem"] == ""
    assert first["url"] == f"/reading/api/instances/{first['sop_uid']}/frames/1"
    assert len(first["pixel_spacing"]) == 2 and len(first["image_orientation"]) == 6


def test_opening_the_manifest_writes_one_study_viewed_audit_row(client, suwon_radiologist, small_ct):
    client.force_login(suwon_radiologist)
    study_uid = small_ct[0].StudyInstanceUID
    manifest = manifest_of(client, study_uid)
    client.get(manifest["series"][0]["frames_url"] + "?start=0&count=12")
    client.get(manifest["series"][0]["frames"][0]["url"])

    viewed = AuditEvent.objects.filter(action=AuditAction.STUDY_VIEWED)
    assert [(event.username, event.study_uid) for event in viewed] == [("kim.suwon", study_uid)]


def test_manifest_leaves_out_non_image_objects_and_lists_priors(client, suwon_radiologist, sites, small_ct):
    sr = dcmread(samples_dir() / "pydicom" / "test-SR.dcm")
    sr.StudyInstanceUID = small_ct[0].StudyInstanceUID
    sr.PatientID = small_ct[0].PatientID
    store(part10(sr), sites["SUWON"])
    prior = chest_ct(slices=2, size=32, seed=9, site_code="SUWON").datasets[0]
    prior.PatientID, prior.StudyDate = small_ct[0].PatientID, "20200101"
    store(part10(prior), sites["SUWON"])
    client.force_login(suwon_radiologist)

    manifest = manifest_of(client, small_ct[0].StudyInstanceUID)

    assert [series["modality"] for series in manifest["series"]] == ["CT"]
    assert [entry["uid"] for entry in manifest["priors"]] == [prior.StudyInstanceUID]
    assert manifest["priors"][0]["study_date"] == "2020-01-01"


# --- series frames -------------------------------------------------------------------------------
def test_series_frames_arrive_concatenated_in_manifest_order(client, suwon_radiologist, small_ct):
    client.force_login(suwon_radiologist)
    series = manifest_of(client, small_ct[0].StudyInstanceUID)["series"][0]
    by_uid = {dataset.SOPInstanceUID: dataset for dataset in small_ct}

    response = client.get(series["frames_url"], {"start": 2, "count": 5})

    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert response["X-Frame-Count"] == "5"
    assert response["Cache-Control"] == "private, max-age=31536000, immutable"
    assert "X-Frame-Problems" not in response
    expected = b"".join(hounsfield(by_uid[frame["sop_uid"]]).tobytes() for frame in series["frames"][2:7])
    assert response.content == expected


def test_a_range_past_the_end_is_cut_to_the_frames_there_are(client, suwon_radiologist, small_ct):
    client.force_login(suwon_radiologist)
    series = manifest_of(client, small_ct[0].StudyInstanceUID)["series"][0]

    response = client.get(series["frames_url"], {"start": 10, "count": 64})

    assert response["X-Frame-Count"] == "2"
    assert len(response.content) == 2 * 64 * 64 * 2


@pytest.mark.parametrize("query", [{"count": 513}, {"count": 0}, {"start": -1}, {"start": 12}, {"start": "x"}])
def test_bad_ranges_are_refused_with_400(client, suwon_radiologist, small_ct, query):
    client.force_login(suwon_radiologist)
    response = client.get(reverse("reading:series_frames", args=[small_ct[0].SeriesInstanceUID]), query)
    assert response.status_code == 400
    assert "error" in response.json()


def test_same_etag_gives_304_and_a_changed_series_gives_a_new_etag(
    client, suwon_radiologist, sites, small_ct, thirteenth_slice
):
    client.force_login(suwon_radiologist)
    url = reverse("reading:series_frames", args=[small_ct[0].SeriesInstanceUID])
    first = client.get(url, {"start": 0, "count": 64})

    again = client.get(url, {"start": 0, "count": 64}, headers={"If-None-Match": first["ETag"]})
    assert again.status_code == 304
    assert again.content == b""

    store(thirteenth_slice, sites["SUWON"])
    changed = client.get(url, {"start": 0, "count": 64}, headers={"If-None-Match": first["ETag"]})
    assert changed.status_code == 200
    assert changed["ETag"] != first["ETag"]


def test_a_stale_frames_version_is_refused_with_409(client, suwon_radiologist, sites, small_ct, thirteenth_slice):
    client.force_login(suwon_radiologist)
    series = manifest_of(client, small_ct[0].StudyInstanceUID)["series"][0]
    assert client.get(series["frames_url"], {"v": series["frames_version"]}).status_code == 200

    store(thirteenth_slice, sites["SUWON"])
    assert client.get(series["frames_url"], {"v": series["frames_version"]}).status_code == 409


def test_an_undecodable_frame_is_sent_as_zeros_and_named_in_a_header(client, suwon_radiologist, sites, small_ct):
    broken = dcmread(samples_dir() / "bad" / "pydicom_JPEG-lossy.dcm")
    broken.StudyInstanceUID, broken.SeriesInstanceUID = small_ct[0].StudyInstanceUID, small_ct[0].SeriesInstanceUID
    broken.PatientID = small_ct[0].PatientID
    assert "ImagePositionPatient" not in broken  # no geometry: the series falls back to instance numbers
    broken.InstanceNumber = 99
    store(part10(broken), sites["SUWON"])
    client.force_login(suwon_radiologist)
    series = manifest_of(client, small_ct[0].StudyInstanceUID)["series"][0]
    last = series["frames"][-1]
    assert last["sop_uid"] == broken.SOPInstanceUID

    response = client.get(series["frames_url"])

    assert response["X-Frame-Problems"] == str(last["index"])
    frame_bytes = last["rows"] * last["columns"] * 2
    assert len(response.content) == 12 * 64 * 64 * 2 + frame_bytes
    assert response.content[-frame_bytes:] == bytes(frame_bytes)
    single = client.get(last["url"])
    assert single.status_code == 422
    assert "JPEG" in single.json()["error"] or "cannot be decoded" in single.json()["error"]


# --- one frame, the decode cache -----------------------------------------------------------------
def test_one_frame_has_the_same_headers(client, suwon_radiologist, small_ct):
    client.force_login(suwon_radiologist)
    dataset = small_ct[5]

    response = client.get(reverse("reading:frame", args=[dataset.SOPInstanceUID, 1]))

    assert response.status_code == 200
    assert response.content == hounsfield(dataset).tobytes()
    assert response["X-Frame-Count"] == "1"
    assert response["Cache-Control"] == "private, max-age=31536000, immutable"
    assert client.get(response.wsgi_request.path, headers={"If-None-Match": response["ETag"]}).status_code == 304
    assert client.get(reverse("reading:frame", args=[dataset.SOPInstanceUID, 2])).status_code == 404


@pytest.fixture
def rle_ct(sites, thirteen_slices) -> list:
    """Four slices of the CT compressed with RLE, as a series of their own."""
    series_uid = generate_uid()
    datasets = []
    for data in thirteen_slices[:4]:
        dataset = dcmread(io.BytesIO(data))
        dataset.SeriesInstanceUID, dataset.SOPInstanceUID = series_uid, generate_uid()
        dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
        dataset.compress(RLELossless)
        store(part10(dataset), sites["SUWON"])
        datasets.append(dataset)
    return datasets


def test_the_second_open_sends_cached_bytes_without_decoding(client, suwon_radiologist, rle_ct):
    client.force_login(suwon_radiologist)
    url = reverse("reading:series_frames", args=[rle_ct[0].SeriesInstanceUID])
    with mock.patch.object(pixel_cache, "decode_frames", wraps=pixel_cache.decode_frames) as decoder:
        first = client.get(url)
        assert decoder.call_count == 4  # one call per stored file
        pixel_cache.flush()  # frames are written by a background thread
        decoder.reset_mock()
        second = client.get(url)
        assert decoder.call_count == 0
    assert second.content == first.content
    assert first.content == b"".join(hounsfield(dataset).tobytes() for dataset in rle_ct)
    assert len(list(pixel_cache.root().rglob("*.int16"))) == 4


def test_native_frames_are_read_from_the_archive_and_not_copied_to_the_cache(client, suwon_radiologist, small_ct):
    client.force_login(suwon_radiologist)
    with mock.patch.object(pixel_cache, "decode_frames") as decoder:
        response = client.get(reverse("reading:series_frames", args=[small_ct[0].SeriesInstanceUID]))
    assert response.status_code == 200
    decoder.assert_not_called()
    pixel_cache.flush()
    assert not pixel_cache.root().exists()


def test_a_cached_frame_cut_short_is_decoded_again(client, suwon_radiologist, rle_ct):
    client.force_login(suwon_radiologist)
    url = reverse("reading:frame", args=[rle_ct[0].SOPInstanceUID, 1])
    expected = client.get(url).content
    pixel_cache.flush()
    (cached,) = pixel_cache.root().rglob("*.int16")
    cached.write_bytes(expected[:100])

    assert client.get(url).content == expected
    assert expected == hounsfield(rle_ct[0]).tobytes()


# --- thumbnails ----------------------------------------------------------------------------------
def test_the_thumbnail_is_a_small_png_of_the_middle_slice(client, suwon_radiologist, small_ct):
    client.force_login(suwon_radiologist)

    response = client.get(reverse("reading:thumbnail", args=[small_ct[0].SeriesInstanceUID]))

    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    assert image.size == (64, 64) and image.mode == "L"
    assert 0 < np.asarray(image).mean() < 255


# --- who may fetch -------------------------------------------------------------------------------
def api_urls(datasets) -> list[str]:
    return [
        reverse("reading:manifest", args=[datasets[0].StudyInstanceUID]),
        reverse("reading:series_frames", args=[datasets[0].SeriesInstanceUID]),
        reverse("reading:frame", args=[datasets[0].SOPInstanceUID, 1]),
        reverse("reading:thumbnail", args=[datasets[0].SeriesInstanceUID]),
    ]


def test_anonymous_requests_get_401_json_not_a_login_redirect(client, small_ct):
    for url in api_urls(small_ct):
        response = client.get(url)
        assert response.status_code == 401, url
        assert response.json() == {"error": "authentication required"}


def test_a_radiologist_of_another_site_gets_403_and_is_audited(client, icheon_radiologist, small_ct):
    client.force_login(icheon_radiologist)
    for url in api_urls(small_ct):
        response = client.get(url)
        assert response.status_code == 403, url
        assert "error" in response.json()
    denied = AuditEvent.objects.filter(action=AuditAction.ACCESS_DENIED, username="lee.icheon")
    assert denied.count() == 4
    assert not AuditEvent.objects.filter(action=AuditAction.STUDY_VIEWED).exists()


def test_the_hub_radiologist_reads_every_site(client, hub_radiologist, small_ct):
    client.force_login(hub_radiologist)
    assert all(client.get(url).status_code == 200 for url in api_urls(small_ct))


def test_a_data_steward_may_not_see_pixels(client, data_steward, small_ct):
    client.force_login(data_steward)
    assert client.get(api_urls(small_ct)[1]).status_code == 403


def test_unknown_uids_give_404(client, suwon_radiologist, small_ct):
    client.force_login(suwon_radiologist)
    for url in (
        reverse("reading:manifest", args=["1.2.3.4"]),
        reverse("reading:series_frames", args=["1.2.3.4"]),
        reverse("reading:frame", args=["1.2.3.4", 1]),
        reverse("reading:thumbnail", args=["1.2.3.4"]),
    ):
        response = client.get(url)
        assert response.status_code == 404, url
        assert "error" in response.json()


# --- every sample file ---------------------------------------------------------------------------
# Files pydicom decodes that are still refused here, and why.
SERVED_AS_PROBLEMS = {
    "bad/pylibjpeg-data_JPEGLossless_1s_1f_i_16_16_bad.dcm": "values implausible for signed 16-bit CT",
    # Ingest (dicomkit.header) counts YBR_FULL_422 native data as three full samples per pixel and
    # flags the file; the viewer respects the flag.
    "test_files/SC_ybr_full_422_uncompressed.dcm": "flagged at ingest",
}


@pytest.mark.parametrize("path", sample_files(), ids=sample_id)
def test_the_served_bytes_equal_pydicoms_frame_after_the_modality_lut(client, admin_user, sites, path):
    dataset = read(path)
    if dataset is None or "PixelData" not in dataset:
        pytest.skip("not an image pydicom can read")
    result = ingest(path.read_bytes(), site=sites["SUWON"], source="test")
    if not result.ok:
        pytest.skip(f"refused at ingest ({result.code}), covered by tests/worklist/test_samples.py")
    if str(dataset.get("SOPClassUID", "")).startswith(NOT_IMAGES):
        pytest.skip("not an image: left out of the viewer")
    client.force_login(admin_user)
    frames = {
        frame["frame"]: frame
        for series in manifest_of(client, result.study_instance_uid)["series"]
        for frame in series["frames"]
        if frame["sop_uid"] == result.sop_instance_uid
    }
    count = frame_count(dataset)
    assert sorted(frames) == list(range(1, count + 1))
    for number in sorted({1, (count + 1) // 2, count}):
        frame = frames[number]
        response = client.get(frame["url"])
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                expected = expected_frame(dataset, frame["frame"])
        except Exception:
            expected = None
        if expected is None or sample_id(path) in SERVED_AS_PROBLEMS:
            assert response.status_code == 422, response.content[:200]
            assert response.json()["error"]
            continue
        assert response.status_code == 200, response.content[:300]
        served = as_served(expected, frame["dtype"])
        assert response.content == served.tobytes(), f"frame {frame['frame']} as {frame['dtype']}"


@pytest.mark.django_db(transaction=True)  # the views run in another thread, on another connection
async def test_under_asgi_a_range_is_streamed_frame_by_frame(async_client, suwon_radiologist, small_ct):
    await async_client.aforce_login(suwon_radiologist)
    url = reverse("reading:series_frames", args=[small_ct[0].SeriesInstanceUID])

    response = await async_client.get(url, {"start": 0, "count": 3})

    assert response.streaming
    assert response["Content-Length"] == str(3 * 64 * 64 * 2)
    assert response["X-Frame-Count"] == "3"
    parts = [part async for part in response.streaming_content]
    assert len(parts) == 3 and all(len(part) == 64 * 64 * 2 for part in parts)
