"""The one ingest function: an object is stored once and indexed; a known SOP Instance UID with
other bytes is refused or replaces the first copy, as DUPLICATE_POLICY says."""

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.filewriter import dcmwrite

from worklist import archive_files
from worklist.ingest import ingest
from worklist.models import Instance, Study

pytestmark = pytest.mark.django_db

PROJECT = Path(__file__).resolve().parents[2]


def ct_bytes() -> bytes:
    with open(get_testdata_file("CT_small.dcm"), "rb") as handle:
        return handle.read()


def ct_bytes_edited() -> bytes:
    """The same object (same SOP Instance, series and study UIDs) with other bytes: a corrected
    description, as a modality sends again after an edit."""
    dataset = dcmread(get_testdata_file("CT_small.dcm"))
    dataset.StudyDescription = "CHEST CT (corrected)"
    buffer = io.BytesIO()
    dcmwrite(buffer, dataset, enforce_file_format=True)
    assert buffer.getvalue() != ct_bytes()
    return buffer.getvalue()


def archive_contents() -> dict[str, bytes]:
    """Every file in the archive by key, and every temporary file left behind."""
    root = archive_files.root()
    files = {str(path.relative_to(root)): path.read_bytes() for path in root.glob("??/??/*.dcm")}
    incoming = root / archive_files.TEMP_FOLDER
    leftovers = list(incoming.iterdir()) if incoming.is_dir() else []
    assert leftovers == [], "a temporary file outlived its ingest"
    return files


def test_an_instance_is_stored_once_and_indexed(sites):
    first = ingest(ct_bytes(), site=sites["SUWON"], source="test")
    again = ingest(ct_bytes(), site=sites["SUWON"], source="test")
    assert first.outcome == "stored"
    assert again.outcome == "already_present"
    instance = Instance.objects.get()
    assert archive_files.path_of(instance.file_key).read_bytes()[:128] == bytes(128)
    study = Study.objects.get()
    assert (study.instance_count, study.series_count, study.modalities) == (1, 1, "CT")
    assert study.patient.site.code == "SUWON"


def test_the_default_policy_is_reject():
    # Read in a fresh interpreter: this run's own settings may come from an environment that sets it.
    environment = {key: value for key, value in os.environ.items() if key != "DUPLICATE_POLICY"}
    environment.update(DJANGO_SETTINGS_MODULE="config.settings")
    result = subprocess.run(
        [sys.executable, "-c", "from django.conf import settings; print(settings.DUPLICATE_POLICY)"],
        cwd=PROJECT,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "reject"


@pytest.mark.parametrize("policy", ["reject", "replace"])
def test_identical_bytes_are_already_present_under_either_policy(sites, settings, policy):
    settings.DUPLICATE_POLICY = policy
    first = ingest(ct_bytes(), site=sites["SUWON"], source="test")
    before = archive_contents()
    again = ingest(ct_bytes(), site=sites["SUWON"], source="test")
    assert (again.outcome, again.instance_id) == ("already_present", first.instance_id)
    assert archive_contents() == before
    assert Study.objects.get().instance_count == 1


def test_reject_refuses_other_bytes_and_keeps_the_first_copy(sites, settings):
    settings.DUPLICATE_POLICY = "reject"
    first = ingest(ct_bytes(), site=sites["SUWON"], source="test")
    original = Instance.objects.values().get()
    stored_before = archive_contents()

    result = ingest(ct_bytes_edited(), site=sites["SUWON"], source="test")

    assert (result.outcome, result.code, result.http_status, result.dimse_status) == (
        "refused",
        "conflict",
        409,
        0xA900,
    )
    assert result.sop_instance_uid == first.sop_instance_uid
    assert Instance.objects.values().get() == original
    assert archive_contents() == stored_before
    assert Study.objects.get().instance_count == 1


def test_replace_keeps_one_row_pointing_at_the_new_file_and_removes_the_old(sites, settings):
    settings.DUPLICATE_POLICY = "replace"
    first = ingest(ct_bytes(), site=sites["SUWON"], source="test")
    old_key = Instance.objects.get().file_key

    result = ingest(ct_bytes_edited(), site=sites["SUWON"], source="test")

    assert (result.outcome, result.instance_id) == ("stored", first.instance_id)
    instance = Instance.objects.get()
    assert instance.file_key != old_key
    new_file = archive_files.path_of(instance.file_key)
    assert dcmread(new_file).StudyDescription == "CHEST CT (corrected)"
    assert instance.file_size == new_file.stat().st_size
    assert list(archive_contents()) == [instance.file_key]
    assert not archive_files.path_of(old_key).exists()
    study = Study.objects.get()
    assert (study.instance_count, study.series_count) == (1, 1)
