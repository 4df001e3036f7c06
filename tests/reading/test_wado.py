"""WADO-RS for other viewers, through dicomweb-client against a live server with a Bearer token:
frames (native and as stored), rendered images and DICOM JSON metadata, behind the same access
checks as the viewer."""

import io
import urllib.error
import urllib.parse
import urllib.request

import numpy as np
import pytest
from dicomweb_client.api import DICOMwebClient
from PIL import Image
from pydicom import Dataset, dcmread
from pydicom.encaps import get_frame

from accounts.models import ApiToken, AuditAction, AuditEvent
from reading.wado import frame_encoding
from tests.conftest import samples_dir
from worklist.ingest import ingest

pytestmark = pytest.mark.django_db(transaction=True)

CT = ("pydicom", "CT_small.dcm")  # native, signed, rescale intercept -1024
J2K = ("pydicom", "MR_small_jp2klossless.dcm")
OVERLAYS = ("pydicom-data", "MR-SIEMENS-DICOM-WithOverlays.dcm")  # overlay, private blocks


@pytest.fixture(autouse=True)
def _decode_cache_in_tmp(settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"


@pytest.fixture
def stored(sites) -> dict[str, Dataset]:
    """Three sample objects stored at Suwon, by name."""
    datasets = {}
    for folder, name in (CT, J2K, OVERLAYS):
        path = samples_dir() / folder / name
        result = ingest(path.read_bytes(), site=sites["SUWON"], source="test")
        assert result.ok, result.reason
        datasets[name] = dcmread(path)
    return datasets


def client_for(live_server, user) -> DICOMwebClient:
    key = ApiToken.issue(user=user, name="viewer")[1]
    return DICOMwebClient(url=f"{live_server.url}/dicomweb", headers={"Authorization": f"Bearer {key}"})


def uids(dataset: Dataset) -> dict[str, str]:
    return {
        "study_instance_uid": dataset.StudyInstanceUID,
        "series_instance_uid": dataset.SeriesInstanceUID,
        "sop_instance_uid": dataset.SOPInstanceUID,
    }


def test_frames_as_stored_are_the_native_values_of_an_uncompressed_file(live_server, suwon_radiologist, stored):
    client = client_for(live_server, suwon_radiologist)
    dataset = stored["CT_small.dcm"]

    (frame,) = client.retrieve_instance_frames(
        **uids(dataset), frame_numbers=[1], media_types=(("application/octet-stream", "*"),)
    )

    # Stored values, not Hounsfield units: the metadata carries the rescale.
    assert frame == dataset.pixel_array.astype("<i2").tobytes()


def test_frames_as_stored_are_the_bitstream_of_a_compressed_file(live_server, suwon_radiologist, stored):
    client = client_for(live_server, suwon_radiologist)
    dataset = stored["MR_small_jp2klossless.dcm"]

    (frame,) = client.retrieve_instance_frames(
        **uids(dataset), frame_numbers=[1], media_types=(("application/octet-stream", "*"),)
    )

    assert frame == get_frame(dataset.PixelData, 0, number_of_frames=1)


def test_native_frames_of_a_compressed_file_are_decoded(live_server, suwon_radiologist, stored):
    client = client_for(live_server, suwon_radiologist)
    dataset = stored["MR_small_jp2klossless.dcm"]

    (frame,) = client.retrieve_instance_frames(
        **uids(dataset), frame_numbers=[1], media_types=(("application/octet-stream", "1.2.840.10008.1.2.1"),)
    )

    assert frame == dataset.pixel_array.astype("<i2").tobytes()


def test_the_rendered_image_is_a_windowed_png_or_jpeg(live_server, suwon_radiologist, stored):
    client = client_for(live_server, suwon_radiologist)
    dataset = stored["CT_small.dcm"]

    png = client.retrieve_instance_rendered(**uids(dataset), media_types=("image/png",))
    jpeg = client.retrieve_instance_rendered(**uids(dataset), media_types=("image/jpeg",))

    image = Image.open(io.BytesIO(png))
    assert (image.format, image.size, image.mode) == ("PNG", (128, 128), "L")
    assert 0 < np.asarray(image).mean() < 255
    assert Image.open(io.BytesIO(jpeg)).format == "JPEG"


def test_series_metadata_is_valid_dicom_json_with_bulk_data_uris(live_server, suwon_radiologist, stored):
    client = client_for(live_server, suwon_radiologist)
    dataset = stored["CT_small.dcm"]

    (document,) = client.retrieve_series_metadata(dataset.StudyInstanceUID, dataset.SeriesInstanceUID)

    parsed = Dataset.from_json(document, bulk_data_uri_handler=lambda tag, vr, uri: b"")
    assert parsed.SOPInstanceUID == dataset.SOPInstanceUID
    assert parsed.PatientID == dataset.PatientID
    assert (parsed.Rows, parsed.Columns, parsed.RescaleIntercept) == (128, 128, -1024)
    pixel_data_uri = document["7FE00010"]["BulkDataURI"]
    assert pixel_data_uri.endswith(f"/instances/{dataset.SOPInstanceUID}/frames/1")
    assert "Value" not in document["7FE00010"]


def test_study_metadata_lists_every_instance_and_is_audited_as_an_open(live_server, suwon_radiologist, stored):
    client = client_for(live_server, suwon_radiologist)
    dataset = stored["CT_small.dcm"]

    documents = client.retrieve_study_metadata(dataset.StudyInstanceUID)

    assert [document["00080018"]["Value"][0] for document in documents] == [dataset.SOPInstanceUID]
    viewed = AuditEvent.objects.get(action=AuditAction.STUDY_VIEWED)
    assert (viewed.username, viewed.study_uid, viewed.detail) == (
        "kim.suwon",
        dataset.StudyInstanceUID,
        {"via": "dicomweb"},
    )


def test_large_values_are_fetched_through_their_bulk_data_uri(live_server, suwon_radiologist, stored):
    client = client_for(live_server, suwon_radiologist)
    dataset = stored["MR-SIEMENS-DICOM-WithOverlays.dcm"]
    document = client.retrieve_instance_metadata(**uids(dataset))
    bulk = [(tag, element["BulkDataURI"]) for tag, element in document.items() if "BulkDataURI" in element]
    assert "60003000" in dict(bulk), "the overlay is bulk data"
    for tag, uri in bulk:
        if tag == "7FE00010":
            continue
        # dicomweb-client sends `Host` without the port, so our absolute URIs lack it too.
        path = urllib.parse.urlsplit(uri).path
        (value,) = client.retrieve_bulkdata(live_server.url + path)
        assert value == dataset[int(tag, 16)].value


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def frames_url(live_server, dataset: Dataset, *, series_uid: str | None = None) -> str:
    return (
        f"{live_server.url}/dicomweb/studies/{dataset.StudyInstanceUID}/series/"
        f"{series_uid or dataset.SeriesInstanceUID}/instances/{dataset.SOPInstanceUID}/frames/1"
    )


def test_no_token_gets_401_and_another_sites_token_403(live_server, icheon_radiologist, stored):
    url = frames_url(live_server, stored["CT_small.dcm"])
    assert get(url)[0] == 401
    assert get(url, {"Authorization": "Bearer not-a-token"})[0] == 401
    key = ApiToken.issue(user=icheon_radiologist, name="other")[1]
    assert get(url, {"Authorization": f"Bearer {key}"})[0] == 403
    assert AuditEvent.objects.filter(action=AuditAction.ACCESS_DENIED, username="lee.icheon").exists()


def test_an_instance_asked_for_in_the_wrong_series_is_404(live_server, suwon_radiologist, stored):
    key = ApiToken.issue(user=suwon_radiologist, name="viewer")[1]
    url = frames_url(
        live_server, stored["CT_small.dcm"], series_uid=stored["MR-SIEMENS-DICOM-WithOverlays.dcm"].SeriesInstanceUID
    )
    assert get(url, {"Authorization": f"Bearer {key}"})[0] == 404


def test_an_unsupported_media_type_is_406(live_server, suwon_radiologist, stored):
    key = ApiToken.issue(user=suwon_radiologist, name="viewer")[1]
    accept = 'multipart/related; type="image/jp2"'
    status, _ = get(
        frames_url(live_server, stored["CT_small.dcm"]), {"Authorization": f"Bearer {key}", "Accept": accept}
    )
    assert status == 406


@pytest.mark.parametrize(
    ("accept", "stored_syntax", "expected"),
    [
        ("", "1.2.840.10008.1.2.4.90", ("application/octet-stream", "1.2.840.10008.1.2.1", False)),
        (
            'multipart/related; type="application/octet-stream"',
            "1.2.840.10008.1.2.4.90",
            (
                "application/octet-stream",
                "1.2.840.10008.1.2.1",
                False,
            ),
        ),
        (
            'multipart/related; type="application/octet-stream"; transfer-syntax=*',
            "1.2.840.10008.1.2.4.90",
            (
                "application/octet-stream",
                "1.2.840.10008.1.2.4.90",
                True,
            ),
        ),
        (
            'multipart/related; type="image/jp2"',
            "1.2.840.10008.1.2.4.90",
            ("image/jp2", "1.2.840.10008.1.2.4.90", True),
        ),
        ('multipart/related; type="image/jp2"', "1.2.840.10008.1.2.1", None),
        ("application/json", "1.2.840.10008.1.2.1", None),
    ],
)
def test_frame_media_types_are_negotiated(accept, stored_syntax, expected):
    encoding = frame_encoding(accept, stored_syntax)
    found = None if encoding is None else (encoding.media_type, encoding.transfer_syntax, encoding.keep_compressed)
    assert found == expected
