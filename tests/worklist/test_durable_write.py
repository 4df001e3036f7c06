"""The listener's path to a durable object: the folder's fsync runs while the row is indexed, and
the object is acknowledged only once both are done."""

import errno

import pytest
from pydicom.data import get_testdata_file

from worklist import archive_files
from worklist.ingest import ingest
from worklist.models import Instance

pytestmark = pytest.mark.django_db


def as_the_listener_hands_it() -> bytes:
    # Part 10 with a zeroed preamble: stored as is, written while it is parsed.
    with open(get_testdata_file("CT_small.dcm"), "rb") as handle:
        data = handle.read()
    return bytes(128) + data[128:]


def archived_files() -> list:
    return sorted(archive_files.root().glob("??/??/*.dcm")) + sorted(
        (archive_files.root() / archive_files.TEMP_FOLDER).glob("*")
    )


def test_the_object_is_acknowledged_after_its_name_is_made_durable(sites, monkeypatch):
    waits = []
    wait_durable = archive_files.StagedWrite.wait_durable

    def counting(self):
        waits.append(self)
        return wait_durable(self)

    monkeypatch.setattr(archive_files.StagedWrite, "wait_durable", counting)
    result = ingest(as_the_listener_hands_it(), site=sites["SUWON"], source="cstore")
    assert result.outcome == "stored"
    assert len(waits) == 1
    assert archive_files.path_of(Instance.objects.get().file_key).read_bytes() == as_the_listener_hands_it()


def test_an_object_whose_folder_cannot_be_synced_is_refused_and_nothing_is_kept(sites, monkeypatch):
    def failing(folder):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(archive_files, "_fsync_folder", failing)
    result = ingest(as_the_listener_hands_it(), site=sites["SUWON"], source="cstore")
    assert (result.outcome, result.code, result.dimse_status) == ("refused", "storage_error", 0xA700)
    assert not Instance.objects.exists()
    assert archived_files() == []

    monkeypatch.undo()
    again = ingest(as_the_listener_hands_it(), site=sites["SUWON"], source="cstore")
    assert again.outcome == "stored"
    study = Instance.objects.select_related("series__study").get().series.study
    assert (study.instance_count, study.series_count) == (1, 1)


def test_an_instance_whose_file_was_lost_gets_it_back_when_sent_again(sites):
    data = as_the_listener_hands_it()
    assert ingest(data, site=sites["SUWON"], source="cstore").outcome == "stored"
    path = archive_files.path_of(Instance.objects.get().file_key)
    path.unlink()

    again = ingest(data, site=sites["SUWON"], source="cstore")
    assert again.outcome == "already_present"
    assert path.read_bytes() == data
    assert Instance.objects.count() == 1
