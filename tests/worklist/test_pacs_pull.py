"""Pulling from a real Orthanc (Debian's package with its DICOMweb plugin) as the PACS."""

import datetime as dt
import hashlib
import io
from pathlib import Path

import pydicom
import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from accounts.models import AuditAction, AuditEvent
from tests.conftest import free_port
from worklist import archive_files
from worklist.models import Instance, Study
from worklist.pacs_pull import PacsError, pull_study, search_pacs

pytestmark = [pytest.mark.django_db, pytest.mark.peers]
JPEG2000_LOSSLESS = "1.2.840.10008.1.2.4.90"


def ct_slices(count: int) -> list[bytes]:
    """CT_small and more slices of its study and series, each with its own SOP Instance UID."""
    original = Path(get_testdata_file("CT_small.dcm")).read_bytes()
    slices = [original]
    for number in range(2, count + 1):
        dataset = pydicom.dcmread(io.BytesIO(original))
        dataset.SOPInstanceUID = generate_uid(entropy_srcs=["readingws-test-slice", str(number)])
        dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
        dataset.InstanceNumber = number
        out = io.BytesIO()
        dataset.save_as(out)
        slices.append(out.getvalue())
    return slices


@pytest.fixture
def pacs(orthanc, settings, sites):
    """The Orthanc peer as the configured PACS, holding a 3-slice CT study and a J2K MR study."""
    orthanc.delete_everything()
    ct = ct_slices(3)
    mr = Path(get_testdata_file("MR_small_jp2klossless.dcm")).read_bytes()
    for data in [*ct, mr]:
        orthanc.upload(data)
    settings.PACS_DICOMWEB_URL = orthanc.dicomweb
    settings.PACS_SITE = "ANSEONG"
    return {
        "ct": ct,
        "ct_study": pydicom.dcmread(io.BytesIO(ct[0])).StudyInstanceUID,
        "mr": mr,
        "mr_study": pydicom.dcmread(io.BytesIO(mr)).StudyInstanceUID,
    }


@pytest.fixture
def pacs_down(settings, sites):
    settings.PACS_DICOMWEB_URL = f"http://127.0.0.1:{free_port()}/dicom-web"  # nobody listens there
    settings.PACS_SITE = "ANSEONG"


def archived_digest(instance: Instance) -> str:
    return hashlib.sha256(archive_files.path_of(instance.file_key).read_bytes()).hexdigest()


# --- search -------------------------------------------------------------------------------------


def test_search_by_patient_id_finds_the_study(pacs):
    (study,) = search_pacs(patient_id="1CT1")
    assert study.study_instance_uid == pacs["ct_study"]
    assert (study.patient_id, study.modalities, study.study_date) == (
        "1CT1",
        "CT",
        dt.date(2004, 1, 19),
    )
    assert study.instance_count == 3
    assert study.patient_name  # shown on the page; never searched by (Orthanc 1.10 and ^ or *)
    event = AuditEvent.objects.get(action=AuditAction.PACS_QUERIED)
    assert (event.detail["criteria"], event.detail["results"]) == (["PatientID"], 1)


def test_search_by_dates_and_modality(pacs):
    both = search_pacs(study_date_range=(dt.date(2004, 1, 1), dt.date(2004, 12, 31)))
    assert {study.study_instance_uid for study in both} == {
        pacs["ct_study"],
        pacs["mr_study"],
    }
    assert [study.modalities for study in search_pacs(study_date_range=(dt.date(2004, 1, 1), None), modality="mr")] == [
        "MR"
    ]
    assert search_pacs(study_date_range=(None, dt.date(2003, 12, 31))) == []


def test_search_needs_a_criterion(pacs):
    with pytest.raises(PacsError) as failure:
        search_pacs()
    assert failure.value.code == "no_criteria"


# --- pull ---------------------------------------------------------------------------------------


def test_pull_stores_every_instance_with_the_bytes_the_pacs_holds(pacs, sites):
    result = pull_study(pacs["ct_study"], site=sites["ANSEONG"])
    assert (result.expected, result.stored, result.already_present, result.refused) == (
        3,
        3,
        0,
        0,
    )
    study = Study.objects.get(study_instance_uid=pacs["ct_study"])
    assert (study.site.code, study.instance_count) == ("ANSEONG", 3)
    expected = {hashlib.sha256(bytes(128) + data[128:]).hexdigest() for data in pacs["ct"]}
    assert {archived_digest(instance) for instance in Instance.objects.all()} == expected
    assert set(Instance.objects.values_list("source", flat=True)) == {"pacs"}
    event = AuditEvent.objects.get(action=AuditAction.INSTANCES_IMPORTED)
    assert (event.study_uid, event.success, event.detail["stored"]) == (
        pacs["ct_study"],
        True,
        3,
    )


def test_pulling_again_finds_everything_already_present(pacs, sites):
    pull_study(pacs["ct_study"], site=sites["ANSEONG"])
    again = pull_study(pacs["ct_study"], site=sites["ANSEONG"])
    assert (again.stored, again.already_present, again.refused) == (0, 3, 0)
    assert Instance.objects.count() == 3


def test_pull_keeps_the_compressed_transfer_syntax(pacs, sites):
    result = pull_study(pacs["mr_study"], site=sites["ANSEONG"])
    assert result.stored == 1
    instance = Instance.objects.get()
    assert instance.transfer_syntax_uid == JPEG2000_LOSSLESS
    assert archived_digest(instance) == hashlib.sha256(bytes(128) + pacs["mr"][128:]).hexdigest()


def test_pull_of_a_study_held_for_another_site_is_refused(pacs, sites):
    pull_study(pacs["ct_study"], site=sites["SUWON"])
    result = pull_study(pacs["ct_study"], site=sites["ANSEONG"])
    assert (result.stored, result.refused, dict(result.refusals)) == (
        0,
        3,
        {"other_site": 3},
    )
    assert Study.objects.get().site.code == "SUWON"


def test_pull_of_an_unknown_study_is_a_clear_error(pacs, sites):
    with pytest.raises(PacsError) as failure:
        pull_study("1.2.3.4.5", site=sites["ANSEONG"])
    assert failure.value.code == "not_found"
    event = AuditEvent.objects.get(action=AuditAction.INSTANCES_IMPORTED)
    assert (event.success, event.detail["error"]) == (False, "not_found")


def test_pull_of_an_invalid_uid_never_reaches_the_pacs(pacs, sites):
    with pytest.raises(PacsError) as failure:
        pull_study("1.2.3/../../x", site=sites["ANSEONG"])
    assert failure.value.code == "invalid_uid"


def test_pacs_down_is_a_clear_error(pacs_down, sites):
    with pytest.raises(PacsError) as failure:
        search_pacs(patient_id="1CT1")
    assert (failure.value.code, failure.value.message) == (
        "unreachable",
        "the PACS cannot be reached",
    )
    with pytest.raises(PacsError) as failure:
        pull_study("1.2.3.4", site=sites["ANSEONG"])
    assert failure.value.code == "unreachable"


def test_a_pacs_error_status_is_a_clear_error(orthanc, settings, sites):
    settings.PACS_DICOMWEB_URL = orthanc.base + "/no-such-root"
    with pytest.raises(PacsError) as failure:
        search_pacs(patient_id="1CT1")
    assert failure.value.code == "not_found"
    assert "404" in failure.value.message


def test_no_configured_pacs_is_a_clear_error(settings, sites):
    settings.PACS_DICOMWEB_URL = ""
    with pytest.raises(PacsError) as failure:
        search_pacs(patient_id="1CT1")
    assert failure.value.code == "not_configured"


# --- manage.py pull_from_pacs ---------------------------------------------------------------------


def test_command_pulls_one_study(pacs, capsys):
    call_command("pull_from_pacs", "--study", pacs["ct_study"])
    assert "3 stored, 0 already present, 0 refused" in capsys.readouterr().out
    assert Study.objects.get().site.code == "ANSEONG"


def test_command_pulls_a_patients_studies_since_a_date(pacs, capsys):
    call_command("pull_from_pacs", "--patient-id", "4MR1", "--since", "2004-08-01")
    output = capsys.readouterr().out
    assert "1 studies found" in output and "1 stored" in output
    call_command("pull_from_pacs", "--patient-id", "4MR1", "--since", "2005-01-01")
    assert "0 studies found" in capsys.readouterr().out


def test_command_reports_a_pacs_that_is_down(pacs_down):
    with pytest.raises(CommandError, match="cannot be reached"):
        call_command("pull_from_pacs", "--study", "1.2.3.4")


def test_command_refuses_since_without_patient(pacs_down):
    with pytest.raises(CommandError, match="--since"):
        call_command("pull_from_pacs", "--study", "1.2.3.4", "--since", "2020-01-01")


# --- the PACS page ------------------------------------------------------------------------------


def logged_in(user) -> Client:
    browser = Client()
    browser.force_login(user)
    return browser


def test_page_searches_and_pulls_with_htmx(pacs, hub_radiologist):
    browser = logged_in(hub_radiologist)
    assert browser.get("/pacs/").status_code == 200
    found = browser.get("/pacs/", {"patient_id": "1CT1"}, HTTP_HX_REQUEST="true")
    assert found.status_code == 200
    assert pacs["ct_study"] in found.text and "<html" not in found.text
    pulled = browser.post("/pacs/pull/", {"study_uid": pacs["ct_study"]}, HTTP_HX_REQUEST="true")
    assert "3 stored, 0 already present, 0 refused" in pulled.text
    assert f"/studies/{pacs['ct_study']}/" in pulled.text
    assert Study.objects.get().site.code == "ANSEONG"


def test_page_without_htmx_renders_whole(pacs, hub_radiologist):
    browser = logged_in(hub_radiologist)
    found = browser.get("/pacs/", {"modality": "CT"})
    assert "<html" in found.text and pacs["ct_study"] in found.text
    pulled = browser.post("/pacs/pull/", {"study_uid": pacs["ct_study"]})
    assert "<html" in pulled.text and "3 stored" in pulled.text


def test_page_asks_for_a_criterion(pacs, hub_radiologist):
    answer = logged_in(hub_radiologist).get("/pacs/", {"patient_id": ""}, HTTP_HX_REQUEST="true")
    assert answer.status_code == 200
    assert not AuditEvent.objects.filter(action=AuditAction.PACS_QUERIED).exists()


def test_page_shows_a_pacs_that_is_down_without_failing(pacs_down, hub_radiologist):
    browser = logged_in(hub_radiologist)
    found = browser.get("/pacs/", {"patient_id": "1CT1"})
    assert found.status_code == 200 and "the PACS cannot be reached" in found.text
    pulled = browser.post("/pacs/pull/", {"study_uid": "1.2.3.4"}, HTTP_HX_REQUEST="true")
    assert pulled.status_code == 200 and "the PACS cannot be reached" in pulled.text


def test_radiologist_of_another_site_may_not_use_the_pacs(pacs, suwon_radiologist):
    browser = logged_in(suwon_radiologist)
    assert browser.get("/pacs/", {"patient_id": "1CT1"}).status_code == 403
    assert browser.post("/pacs/pull/", {"study_uid": pacs["ct_study"]}).status_code == 403
    assert not Study.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditAction.PACS_QUERIED).exists()


def test_data_steward_may_not_pull(pacs, data_steward):
    assert logged_in(data_steward).post("/pacs/pull/", {"study_uid": pacs["ct_study"]}).status_code == 403
