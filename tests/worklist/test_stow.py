import io
import time
from pathlib import Path

import pydicom
import pytest
from dicomweb_client import DICOMwebClient
from django.test import Client
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from accounts.models import ApiToken, AuditAction, AuditEvent
from tests.conftest import make_user
from worklist import archive_files
from worklist.models import Instance, Study

pytestmark = pytest.mark.django_db
BOUNDARY = "stow-test-boundary"
CONTENT_TYPE = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'
URL = "/dicomweb/studies"


def sample(name: str) -> bytes:
    return Path(get_testdata_file(name)).read_bytes()


def uids(data: bytes) -> tuple[str, str, str]:
    dataset = pydicom.dcmread(io.BytesIO(data))
    return dataset.StudyInstanceUID, dataset.SOPClassUID, dataset.SOPInstanceUID


def with_invalid_sop_uid(data: bytes) -> bytes:
    sop_uid = uids(data)[2].encode()
    return data.replace(sop_uid, b"x" * len(sop_uid))  # same length, so the file stays whole


def another_slice(data: bytes) -> bytes:
    """The same study and series with a new SOP Instance UID."""
    dataset = pydicom.dcmread(io.BytesIO(data))
    dataset.SOPInstanceUID = dataset.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    out = io.BytesIO()
    dataset.save_as(out)
    return out.getvalue()


def multipart_body(*contents: bytes) -> bytes:
    parts = b"".join(
        b"\r\n--" + BOUNDARY.encode() + b"\r\nContent-Type: application/dicom\r\n\r\n" + content for content in contents
    )
    return parts + b"\r\n--" + BOUNDARY.encode() + b"--"


def token_for(user) -> str:
    return ApiToken.issue(user=user, name="script")[1]


def post(
    client: Client,
    *contents: bytes,
    token: str = "",
    url: str = URL,
    body: bytes | None = None,
    **headers,
):
    if token:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    data = multipart_body(*contents) if body is None else body
    return client.post(
        url,
        data=data,
        content_type=headers.pop("content_type", CONTENT_TYPE),
        **headers,
    )


def failed_items(answer: dict) -> list[dict]:
    return answer.get("00081198", {}).get("Value", [])


def referenced_items(answer: dict) -> list[dict]:
    return answer.get("00081199", {}).get("Value", [])


def value(item: dict, tag: str):
    return item[tag].get("Value", [None])[0]


def archived_files() -> list[Path]:
    return [path for path in archive_files.root().rglob("*") if path.is_file()]


def imports() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=AuditAction.INSTANCES_IMPORTED))


# --- through dicomweb-client against a live server ----------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_dicomweb_client_stores_instances_with_a_bearer_token(live_server, suwon_radiologist):
    client = DICOMwebClient(
        url=live_server.url + "/dicomweb",
        headers={"Authorization": f"Bearer {token_for(suwon_radiologist)}"},
    )
    datasets = [pydicom.dcmread(get_testdata_file(name)) for name in ("CT_small.dcm", "MR_small.dcm")]
    answer = client.store_instances(datasets)
    stored = {item.ReferencedSOPInstanceUID for item in answer.ReferencedSOPSequence}
    assert stored == {dataset.SOPInstanceUID for dataset in datasets}
    assert "FailedSOPSequence" not in answer
    assert set(Study.objects.values_list("site__code", flat=True)) == {"SUWON"}
    assert Instance.objects.count() == 2 and len(archived_files()) == 2
    (event,) = imports()
    assert (
        event.username,
        event.success,
        event.detail["stored"],
        event.detail["site"],
    ) == ("kim.suwon", True, 2, "SUWON")


@pytest.mark.django_db(transaction=True)
def test_dicomweb_client_gets_the_failed_sop_sequence_of_a_partial_failure(live_server, suwon_radiologist):
    client = DICOMwebClient(
        url=live_server.url + "/dicomweb",
        headers={"Authorization": f"Bearer {token_for(suwon_radiologist)}"},
    )
    good = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    foreign = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    answer = client.store_instances([good, foreign], study_instance_uid=good.StudyInstanceUID)
    assert [item.ReferencedSOPInstanceUID for item in answer.ReferencedSOPSequence] == [good.SOPInstanceUID]
    (failure,) = answer.FailedSOPSequence
    assert failure.ReferencedSOPInstanceUID == foreign.SOPInstanceUID
    assert failure.FailureReason == 0xA900
    assert list(Instance.objects.values_list("sop_instance_uid", flat=True)) == [good.SOPInstanceUID]


@pytest.mark.django_db(transaction=True)
def test_anonymous_dicomweb_client_gets_401(live_server, sites):
    import requests

    client = DICOMwebClient(url=live_server.url + "/dicomweb")
    with pytest.raises(requests.HTTPError) as failure:
        client.store_instances([pydicom.dcmread(get_testdata_file("CT_small.dcm"))])
    assert failure.value.response.status_code == 401
    assert failure.value.response.headers["WWW-Authenticate"].startswith("Bearer")
    assert not Instance.objects.exists()


# --- outcomes and status codes --------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")
def test_mixed_good_and_bad_parts_give_202_with_the_failures_in_order(client, suwon_radiologist):
    ct = sample("CT_small.dcm")
    _, ct_class, ct_instance = uids(ct)
    bad_uid = with_invalid_sop_uid(sample("MR_small.dcm"))
    truncated = ct[: len(ct) // 2]
    response = post(
        client,
        ct,
        b"this is not a DICOM file",
        truncated,
        bad_uid,
        token=token_for(suwon_radiologist),
    )

    assert response.status_code == 202
    assert response["Content-Type"] == "application/dicom+json"
    answer = response.json()
    (reference,) = referenced_items(answer)
    assert (value(reference, "00081150"), value(reference, "00081155")) == (
        ct_class,
        ct_instance,
    )
    failures = failed_items(answer)
    assert [value(item, "00081197") for item in failures] == [0xC000, 0xC000, 0xC000]
    assert value(failures[0], "00081155") is None  # unreadable: no UIDs to name
    assert Instance.objects.count() == 1
    assert len(archived_files()) == 1  # nothing left behind by the bad parts, temporary files included
    (event,) = imports()
    assert event.detail["refused"] == 3 and event.detail["stored"] == 1 and not event.success
    assert [refusal["part"] for refusal in event.detail["refused_parts"]] == [2, 3, 4]


def test_already_present_counts_as_stored(client, suwon_radiologist):
    token = token_for(suwon_radiologist)
    assert post(client, sample("CT_small.dcm"), token=token).status_code == 200
    again = post(client, sample("CT_small.dcm"), token=token)
    assert again.status_code == 200
    assert len(referenced_items(again.json())) == 1
    assert Instance.objects.count() == 1
    assert imports()[0].detail["already_present"] == 1


def test_nothing_stored_gives_409(client, suwon_radiologist):
    response = post(client, b"not dicom", b"\x08\x00junk", token=token_for(suwon_radiologist))
    assert response.status_code == 409
    assert len(failed_items(response.json())) == 2
    assert not Instance.objects.exists()


def test_the_upload_page_gets_reasons_as_plain_json(client, suwon_radiologist):
    response = post(
        client,
        sample("CT_small.dcm"),
        b"not dicom",
        token=token_for(suwon_radiologist),
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 202
    summary = response.json()
    assert (summary["site"], summary["stored"], summary["refused"]) == ("SUWON", 1, 1)
    assert [item["outcome"] for item in summary["instances"]] == ["stored", "refused"]
    assert summary["instances"][1]["code"] == "not_dicom"
    assert "DICOM" in summary["instances"][1]["reason"]


def test_study_scoped_url_refuses_a_part_of_another_study(client, suwon_radiologist):
    ct, mr = sample("CT_small.dcm"), sample("MR_small.dcm")
    study_uid = uids(ct)[0]
    response = post(
        client,
        ct,
        mr,
        token=token_for(suwon_radiologist),
        url=f"{URL}/{study_uid}",
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 202
    refused = response.json()["instances"][1]
    assert (refused["outcome"], refused["code"]) == ("refused", "wrong_study")
    assert list(Study.objects.values_list("study_instance_uid", flat=True)) == [study_uid]


def test_study_scoped_url_adds_to_the_site_of_a_study_the_user_sees(client, icheon_radiologist, hub_radiologist):
    ct = sample("CT_small.dcm")
    assert post(client, ct, token=token_for(icheon_radiologist)).status_code == 200
    study_url = f"{URL}/{uids(ct)[0]}"
    assert post(client, another_slice(ct), token=token_for(hub_radiologist)).status_code == 400  # must choose
    assert post(client, another_slice(ct), token=token_for(hub_radiologist), url=study_url).status_code == 200
    assert Study.objects.get().instance_count == 2


def test_study_scoped_url_with_an_invalid_uid_is_400(client, suwon_radiologist):
    response = post(
        client,
        sample("CT_small.dcm"),
        token=token_for(suwon_radiologist),
        url=f"{URL}/1.2.abc",
    )
    assert response.status_code == 400


def test_a_study_held_for_another_site_is_not_joined(client, suwon_radiologist, icheon_radiologist):
    assert post(client, sample("CT_small.dcm"), token=token_for(icheon_radiologist)).status_code == 200
    response = post(
        client,
        another_slice(sample("CT_small.dcm")),
        token=token_for(suwon_radiologist),
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 409
    assert response.json()["instances"][0]["code"] == "other_site"
    assert Study.objects.get().site.code == "ICHEON"


# --- malformed requests ---------------------------------------------------------------------------


def test_a_cut_multipart_is_400_and_stores_nothing(client, suwon_radiologist):
    token = token_for(suwon_radiologist)
    whole = multipart_body(sample("CT_small.dcm"), sample("MR_small.dcm"))
    cut = whole[: len(whole) - 5000]
    response = post(client, token=token, body=cut)
    assert response.status_code == 400
    assert response.json()["code"] == "truncated"
    assert "Warning" in response
    assert not Instance.objects.exists() and archived_files() == []
    (event,) = imports()
    assert (event.success, event.detail["error"]) == (False, "truncated")
    assert post(client, token=token, body=whole).status_code == 200  # sending it again stores it once
    assert Instance.objects.count() == 2


def test_too_many_parts_are_refused_fast_without_parsing_any(client, suwon_radiologist, monkeypatch):
    def must_not_run(*args, **kwargs):
        raise AssertionError("a part was ingested")

    monkeypatch.setattr("worklist.stow.ingest_at_site", must_not_run)
    body = multipart_body(*[b"x"] * 10_000)
    started = time.monotonic()
    response = post(client, token=token_for(suwon_radiologist), body=body)
    assert response.status_code == 413
    assert response.json()["code"] == "too_many_parts"
    assert time.monotonic() - started < 2


def test_huge_part_headers_are_400(client, suwon_radiologist):
    body = b"--" + BOUNDARY.encode() + b"\r\nX-Big: " + b"h" * 100_000 + b"\r\n\r\nx\r\n--" + BOUNDARY.encode() + b"--"
    response = post(client, token=token_for(suwon_radiologist), body=body)
    assert (response.status_code, response.json()["code"]) == (400, "headers_too_large")


def test_a_body_over_the_upload_cap_is_413(client, suwon_radiologist, settings):
    settings.MAX_UPLOAD_BYTES = 10_000
    response = post(client, sample("CT_small.dcm"), token=token_for(suwon_radiologist))
    assert response.status_code == 413
    assert not Instance.objects.exists()


@pytest.mark.parametrize(
    "content_type",
    [
        "application/dicom",
        'multipart/related; type="application/dicom+json"; boundary=x',
        "multipart/related; boundary=x",
        "",
        "text/plain",
    ],
)
def test_wrong_content_type_is_415(client, suwon_radiologist, content_type):
    response = post(
        client,
        sample("CT_small.dcm"),
        token=token_for(suwon_radiologist),
        content_type=content_type,
    )
    assert response.status_code == 415


def test_missing_boundary_is_400(client, suwon_radiologist):
    response = post(
        client,
        sample("CT_small.dcm"),
        token=token_for(suwon_radiologist),
        content_type='multipart/related; type="application/dicom"',
    )
    assert (response.status_code, response.json()["code"]) == (400, "missing_boundary")


def test_an_empty_multipart_is_400(client, suwon_radiologist):
    response = post(
        client,
        token=token_for(suwon_radiologist),
        body=b"--" + BOUNDARY.encode() + b"--",
    )
    assert (response.status_code, response.json()["code"]) == (400, "no_parts")


def test_a_non_dicom_part_media_type_is_refused(client, suwon_radiologist):
    body = b"--" + BOUNDARY.encode() + b"\r\nContent-Type: text/html\r\n\r\n<b>x</b>\r\n--" + BOUNDARY.encode() + b"--"
    response = post(
        client,
        token=token_for(suwon_radiologist),
        body=body,
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 409
    assert response.json()["instances"][0]["code"] == "media_type"


# --- who may upload where -------------------------------------------------------------------------


def test_anonymous_gets_401_not_a_login_redirect(client, sites):
    response = post(client, sample("CT_small.dcm"))
    assert response.status_code == 401
    assert not Instance.objects.exists()


def test_an_invalid_token_gets_401(client, sites):
    assert post(client, sample("CT_small.dcm"), token="not-a-token").status_code == 401


def test_a_revoked_token_gets_401(client, suwon_radiologist):
    token, key = ApiToken.issue(user=suwon_radiologist, name="old")
    ApiToken.objects.filter(pk=token.pk).update(revoked_at="2026-01-01T00:00:00Z")
    assert post(client, sample("CT_small.dcm"), token=key).status_code == 401


def test_radiologist_uploading_to_another_site_gets_403(client, suwon_radiologist):
    response = post(
        client,
        sample("CT_small.dcm"),
        token=token_for(suwon_radiologist),
        url=URL + "?site=ICHEON",
    )
    assert response.status_code == 403
    assert not Instance.objects.exists()
    denial = AuditEvent.objects.get(action=AuditAction.ACCESS_DENIED)
    assert (denial.username, denial.detail["site"]) == ("kim.suwon", "ICHEON")


def test_radiologist_may_name_their_own_site(client, suwon_radiologist):
    assert (
        post(
            client,
            sample("CT_small.dcm"),
            token=token_for(suwon_radiologist),
            url=URL + "?site=SUWON",
        ).status_code
        == 200
    )


def test_hub_radiologist_must_choose_a_site(client, hub_radiologist):
    token = token_for(hub_radiologist)
    assert post(client, sample("CT_small.dcm"), token=token).status_code == 400
    assert post(client, sample("CT_small.dcm"), token=token, url=URL + "?site=ICHEON").status_code == 200
    assert Study.objects.get().site.code == "ICHEON"


def test_an_unknown_site_is_400(client, admin_user):
    assert (
        post(
            client,
            sample("CT_small.dcm"),
            token=token_for(admin_user),
            url=URL + "?site=BUSAN",
        ).status_code
        == 400
    )


def test_a_role_without_upload_permission_gets_403(client, data_steward):
    assert (
        post(
            client,
            sample("CT_small.dcm"),
            token=token_for(data_steward),
            url=URL + "?site=SUWON",
        ).status_code
        == 403
    )


def test_an_ai_engine_token_may_upload_to_its_site(client, sites):
    engine = make_user("engine", role="ai_engine", sites=[sites["ICHEON"]])
    assert post(client, sample("CT_small.dcm"), token=token_for(engine)).status_code == 200
    assert Study.objects.get().site.code == "ICHEON"


def test_session_upload_needs_the_csrf_token(suwon_radiologist):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(suwon_radiologist)
    assert post(browser, sample("CT_small.dcm")).status_code == 403
    assert not Instance.objects.exists()
    assert AuditEvent.objects.get(action=AuditAction.ACCESS_DENIED).detail["reason"] == "csrf"

    page = browser.get("/")  # any page sets the CSRF cookie
    token = page.cookies["csrftoken"].value if "csrftoken" in page.cookies else browser.cookies["csrftoken"].value
    assert post(browser, sample("CT_small.dcm"), HTTP_X_CSRFTOKEN=token).status_code == 200


def test_a_token_request_ignores_the_session_cookie(suwon_radiologist, admin_user):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(admin_user)  # an admin session may upload anywhere; the token's user may not
    token = token_for(suwon_radiologist)
    assert post(browser, sample("CT_small.dcm"), token=token, url=URL + "?site=ICHEON").status_code == 403
    response = post(browser, sample("CT_small.dcm"), token=token)  # and no CSRF token is needed
    assert response.status_code == 200
    assert Study.objects.get().site.code == "SUWON"
    assert imports()[0].username == "kim.suwon"


def test_a_bad_token_is_not_rescued_by_a_session(admin_user):
    browser = Client()
    browser.force_login(admin_user)
    assert post(browser, sample("CT_small.dcm"), token="wrong", url=URL + "?site=SUWON").status_code == 401
