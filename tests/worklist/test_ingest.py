import pytest
from pydicom.data import get_testdata_file

from worklist import archive_files
from worklist.ingest import ingest
from worklist.models import Instance, Study

pytestmark = pytest.mark.django_db


def ct_bytes() -> bytes:
    with open(get_testdata_file("CT_small.dcm"), "rb") as handle:
        return handle.read()


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
