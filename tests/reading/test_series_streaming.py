"""How a series range leaves the server under ASGI: read a few frames at a time while it is sent
when every frame's outcome is known beforehand, cut short when a frame fails after the headers;
the frames of a series kept between the viewer's requests; the manifest's frame URLs."""

import io
from unittest import mock

import pytest
from django.urls import reverse
from pydicom.filewriter import dcmwrite

from dicomkit.synthetic.chest_ct import chest_ct
from reading import manifest, pixel_cache, pixel_views
from worklist.ingest import ingest
from worklist.models import Series

pytestmark = pytest.mark.django_db(transaction=True)  # the async views run on other connections
SLICES, SIZE = 12, 64
FRAME_BYTES = SIZE * SIZE * 2


@pytest.fixture(autouse=True)
def _decode_cache_in_tmp(settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def ct_series(sites) -> str:
    for dataset in chest_ct(slices=SLICES, size=SIZE, site_code="SUWON").datasets:
        output = io.BytesIO()
        dcmwrite(output, dataset, enforce_file_format=True)
        assert ingest(output.getvalue(), site=sites["SUWON"], source="test").ok
    return dataset.SeriesInstanceUID


def frames_url(series_uid: str) -> str:
    return reverse("reading:series_frames", args=[series_uid])


async def test_a_native_range_is_read_a_few_frames_at_a_time_while_it_is_sent(
    async_client, suwon_radiologist, ct_series
):
    await async_client.aforce_login(suwon_radiologist)
    whole = b"".join([part async for part in (await async_client.get(frames_url(ct_series))).streaming_content])
    reads = []
    real_frames = pixel_cache.frames

    def counted(sources):
        reads.append(len(sources))
        return real_frames(sources)

    with mock.patch.object(pixel_views, "FRAMES_PER_READ", 5), mock.patch.object(pixel_cache, "frames", counted):
        response = await async_client.get(frames_url(ct_series))
        assert reads == []  # nothing read before the headers go out
        body = b"".join([part async for part in response.streaming_content])

    assert reads == [5, 5, 2]
    assert response["Content-Length"] == str(SLICES * FRAME_BYTES)
    assert body == whole and len(body) == SLICES * FRAME_BYTES


async def test_a_frame_failing_after_the_headers_cuts_the_body_short(async_client, suwon_radiologist, ct_series):
    await async_client.aforce_login(suwon_radiologist)
    real_frames = pixel_cache.frames

    def second_read_fails(sources):
        served = real_frames(sources)
        if len(second_read_fails.calls) == 1:
            served[0] = pixel_cache.FrameBytes(bytes(FRAME_BYTES), "the stored file cannot be read")
        second_read_fails.calls.append(len(sources))
        return served

    second_read_fails.calls = []
    failing = mock.patch.object(pixel_cache, "frames", second_read_fails)
    with mock.patch.object(pixel_views, "FRAMES_PER_READ", 5), failing:
        response = await async_client.get(frames_url(ct_series))
        received = []
        with pytest.raises(pixel_views.UnexpectedFrameProblem):
            async for part in response.streaming_content:
                received.append(part)

    assert "X-Frame-Problems" not in response
    assert len(received) == 5  # the first read went out; nothing from the failed one


async def test_a_known_problem_is_named_in_the_header_of_a_streamed_range(async_client, suwon_radiologist, ct_series):
    await async_client.aforce_login(suwon_radiologist)
    with mock.patch.object(pixel_cache, "known_problems", return_value={3}):
        response = await async_client.get(frames_url(ct_series))
        body = b"".join([part async for part in response.streaming_content])

    assert response["X-Frame-Problems"] == "3"
    assert len(body) == SLICES * FRAME_BYTES


def test_the_frames_of_a_series_are_built_once_for_the_viewers_requests(client, suwon_radiologist, ct_series):
    client.force_login(suwon_radiologist)
    with mock.patch.object(manifest, "instance_frames", wraps=manifest.instance_frames) as built:
        series = client.get(reverse("reading:manifest", args=[_study_of(client, ct_series)])).json()["series"][0]
        for start in (0, 4, 8):
            response = client.get(frames_url(ct_series), {"start": start, "count": 4, "v": series["frames_version"]})
            assert response.status_code == 200

    assert built.call_count == 1  # by the manifest; the three ranges reuse its frames


def test_every_manifest_frame_url_is_the_frame_endpoint_of_that_frame(client, suwon_radiologist, ct_series):
    client.force_login(suwon_radiologist)
    series = client.get(reverse("reading:manifest", args=[_study_of(client, ct_series)])).json()["series"][0]

    for frame in series["frames"]:
        assert frame["url"] == reverse("reading:frame", args=[frame["sop_uid"], frame["frame"]])
        assert client.get(frame["url"]).status_code == 200


def _study_of(client, series_uid: str) -> str:
    return Series.objects.select_related("study").get(series_instance_uid=series_uid).study.study_instance_uid
