"""C-STORE end to end: dcmtk's storescu (and a pynetdicom SCU where we need the exact status)
sending into our listener, started in this process on a free port. The listener's association
threads use their own database connections, hence transactional tests."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, HTJ2KLossless, generate_uid
from pynetdicom import AE, evt
from pynetdicom.sop_class import CTImageStorage

from accounts.models import AuditAction, AuditEvent, Site
from dicomkit.store_scp import STATUS_PROCESSING_FAILURE, StoreServer
from tests.conftest import require_tool
from tests.worklist.manage_subprocess import MANAGE, child_database_url
from tests.worklist.tiny_datasets import ct_dataset, part10
from worklist.dimse import listener as make_listener
from worklist.models import Instance, RemoteAE, Series, Study

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.peers]

OUR_AE = "READINGWS"
SENDER_AE = "STORESCU"
SERIES_LENGTH = 24


@pytest.fixture
def listener(sites):
    RemoteAE.objects.create(ae_title=SENDER_AE, site=sites["SUWON"])
    server = make_listener(ae_title=OUR_AE, bind="127.0.0.1", port=0)
    server.start()
    yield server
    server.stop()


def storescu(port: int, *files: Path | str, calling: str = SENDER_AE, extra: tuple[str, ...] = ()):
    command = [
        require_tool("storescu"),
        *extra,
        "-aet",
        calling,
        "-aec",
        OUR_AE,
        "127.0.0.1",
        str(port),
    ]
    return subprocess.Popen(
        [*command, *map(str, files)],
        env={**os.environ, "TCP_NODELAY": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def send(port: int, *files: Path | str, **options) -> subprocess.CompletedProcess:
    process = storescu(port, *files, **options)
    output, _ = process.communicate(timeout=120)
    return subprocess.CompletedProcess(process.args, process.returncode, output)


def eventually(condition, timeout: float = 15.0):
    """Association-end work (audit rows, pixel checks) runs after the sender has gone."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def archive_files() -> set[str]:
    root = Path(settings.STORAGE_DIR)
    return {str(path.relative_to(root)) for path in root.glob("??/??/*.dcm")}


def scu_store(port: int, dataset, *, calling: str = SENDER_AE) -> int:
    """Send one dataset with pynetdicom and return the C-STORE response status."""
    dataset.file_meta = FileMetaDataset()
    dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ae = AE(ae_title=calling)
    ae.add_requested_context(dataset.SOPClassUID, ExplicitVRLittleEndian)

    def no_delay(event):
        event.assoc.dul.socket.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    association = ae.associate("127.0.0.1", port, ae_title=OUR_AE, evt_handlers=[(evt.EVT_CONN_OPEN, no_delay)])
    assert association.is_established
    try:
        status = association.send_c_store(dataset)
        return int(status.Status)
    finally:
        association.release()


def test_storescu_objects_are_stored_indexed_and_audited(listener):
    files = [get_testdata_file("CT_small.dcm"), get_testdata_file("MR_small.dcm")]
    result = send(listener.port, *files)
    assert result.returncode == 0, result.stdout
    instances = Instance.objects.select_related("series__study__site")
    assert {instance.sop_instance_uid for instance in instances} == {dcmread(path).SOPInstanceUID for path in files}
    assert {instance.file_key for instance in instances} == archive_files()
    for instance in instances:
        assert (instance.source, instance.source_detail) == ("cstore", SENDER_AE)
        assert instance.series.study.site.code == "SUWON"
    studies = sorted(Study.objects.values_list("study_instance_uid", flat=True))
    # One row per study, written one after the other when the association ends.
    imported = AuditEvent.objects.filter(action=AuditAction.INSTANCES_IMPORTED)
    rows = eventually(lambda: rows if len(rows := list(imported.all())) >= len(studies) else None)
    rows = rows or list(imported.all())
    assert sorted(row.study_uid for row in rows) == studies
    assert all(row.detail["stored"] == 1 and row.detail["refused"] == 0 and row.source == SENDER_AE for row in rows)
    assert all(row.patient_ref is not None for row in rows)


COMPRESSED = [
    ("-xr", "MR_small_RLE.dcm"),
    ("-xs", "SC_rgb_jpeg_gdcm.dcm"),
    ("-xy", "SC_rgb_small_odd_jpeg.dcm"),
    ("-xx", "JPEG-lossy.dcm"),
    ("-xt", "MR_small_jpeg_ls_lossless.dcm"),
    ("-xu", "JPEGLSNearLossless_16.dcm"),
    ("-xv", "MR_small_jp2klossless.dcm"),
    ("-xw", "JPEG2000.dcm"),
    ("-xd", "image_dfl.dcm"),
]


@pytest.mark.parametrize(("option", "name"), COMPRESSED, ids=[name for _, name in COMPRESSED])
def test_compressed_transfer_syntaxes_arrive_as_sent(listener, tmp_path, option, name):
    sent = dcmread(get_testdata_file(name))
    # Some of pydicom's samples lack the study and series UIDs the archive needs.
    sent.StudyInstanceUID = sent.get("StudyInstanceUID") or generate_uid()
    sent.SeriesInstanceUID = sent.get("SeriesInstanceUID") or generate_uid()
    path = tmp_path / name
    sent.save_as(path)
    result = send(listener.port, path, extra=(option,))
    assert result.returncode == 0, result.stdout
    instance = Instance.objects.get(sop_instance_uid=sent.SOPInstanceUID)
    assert instance.transfer_syntax_uid == sent.file_meta.TransferSyntaxUID


def test_htj2k_is_accepted(listener):
    ae = AE(ae_title=SENDER_AE)
    ae.add_requested_context(CTImageStorage, HTJ2KLossless)
    association = ae.associate("127.0.0.1", listener.port, ae_title=OUR_AE)
    try:
        assert [context.transfer_syntax[0] for context in association.accepted_contexts] == [HTJ2KLossless]
    finally:
        association.release()


def test_an_unknown_calling_ae_is_rejected_and_audited(listener):
    result = send(listener.port, get_testdata_file("CT_small.dcm"), calling="STRANGER")
    assert result.returncode != 0
    assert "Calling AE Title Not Recognized" in result.stdout
    assert not Instance.objects.exists()
    assert archive_files() == set()
    refused = AuditEvent.objects.get(action=AuditAction.ASSOCIATION_REFUSED)
    assert (refused.success, refused.source, refused.detail["reason"]) == (
        False,
        "STRANGER",
        "calling_ae",
    )


def test_an_inactive_remote_ae_is_rejected(listener):
    RemoteAE.objects.filter(ae_title=SENDER_AE).update(active=False)
    result = send(listener.port, get_testdata_file("CT_small.dcm"))
    assert "Calling AE Title Not Recognized" in result.stdout
    assert not Instance.objects.exists()


def test_a_wrong_called_ae_is_rejected(listener):
    command = [
        require_tool("storescu"),
        "-aet",
        SENDER_AE,
        "-aec",
        "SOMEONE",
        "127.0.0.1",
        str(listener.port),
    ]
    result = subprocess.run([*command, get_testdata_file("CT_small.dcm")], capture_output=True, text=True)
    assert "Called AE Title Not Recognized" in result.stderr + result.stdout
    assert AuditEvent.objects.get(action=AuditAction.ASSOCIATION_REFUSED).detail["reason"] == "called_ae"


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")
def test_an_object_with_an_invalid_uid_gets_a_failure_status_and_leaves_nothing(
    listener,
):
    dataset = ct_dataset()
    dataset.StudyInstanceUID = "1.2.3.abc"
    assert scu_store(listener.port, dataset) == 0xC000
    assert not Instance.objects.exists()
    assert archive_files() == set()
    row = eventually(lambda: AuditEvent.objects.filter(action=AuditAction.INSTANCE_REFUSED).first())
    assert (row.success, row.detail["refused"], row.detail["reasons"]) == (
        False,
        1,
        {"invalid_uid": 1},
    )


def test_an_object_over_the_pixel_limit_gets_out_of_resources_and_leaves_nothing(listener, settings):
    settings.MAX_PIXEL_BYTES = 1 << 10
    assert scu_store(listener.port, ct_dataset(rows=64, columns=64)) == 0xA700
    assert not Instance.objects.exists()
    assert archive_files() == set()


def test_a_failing_service_answers_a_failure_status_and_keeps_listening():
    class Flaky:
        calls = 0

        def allow(self, peer):
            return True

        def store(self, peer, data):
            self.calls += 1
            if self.calls == 1:
                raise RuntimeError("the database went away")
            return 0x0000

        def association_refused(self, peer, reason):
            pass

        def association_ended(self, peer):
            pass

    server = StoreServer(Flaky(), ae_title=OUR_AE, port=0)
    server.start()
    try:
        assert scu_store(server.port, ct_dataset()) == STATUS_PROCESSING_FAILURE
        assert scu_store(server.port, ct_dataset()) == 0x0000
    finally:
        server.stop()


def write_series(folder: Path, count: int) -> list[Path]:
    folder.mkdir()
    study_uid, series_uid = (
        "1.2.826.0.1.3680043.10.99.7",
        "1.2.826.0.1.3680043.10.99.7.1",
    )
    paths = []
    for number in range(1, count + 1):
        dataset = ct_dataset(rows=64, columns=64, study_uid=study_uid, series_uid=series_uid)
        dataset.InstanceNumber = number
        path = folder / f"IM{number:04d}.dcm"
        path.write_bytes(part10(dataset))
        paths.append(path)
    return paths


def test_the_same_series_from_two_senders_at_once_is_stored_once(listener, tmp_path):
    files = write_series(tmp_path / "series", SERIES_LENGTH)
    senders = [
        storescu(listener.port, *files),
        storescu(listener.port, *reversed(files)),
    ]
    for sender in senders:
        output, _ = sender.communicate(timeout=120)
        assert sender.returncode == 0, output
    keys = archive_files()
    assert Instance.objects.count() == len(keys) == SERIES_LENGTH
    assert set(Instance.objects.values_list("file_key", flat=True)) == keys
    assert Instance.objects.values("sop_instance_uid").distinct().count() == SERIES_LENGTH
    # The counts are recounted when each association ends, after its sender has gone.
    assert eventually(
        lambda: Series.objects.get().instance_count == Study.objects.get().instance_count == SERIES_LENGTH
    )
    rows = eventually(
        lambda: (rows := list(AuditEvent.objects.filter(action=AuditAction.INSTANCES_IMPORTED)))
        and len(rows) == 2
        and rows
    )
    assert sorted(row.detail["stored"] + row.detail["already_present"] for row in rows) == [SERIES_LENGTH] * 2
    assert sum(row.detail["stored"] for row in rows) == SERIES_LENGTH


def test_c_echo_is_answered(listener):
    command = [
        require_tool("echoscu"),
        "-aet",
        SENDER_AE,
        "-aec",
        OUR_AE,
        "127.0.0.1",
        str(listener.port),
    ]
    assert subprocess.run(command, capture_output=True).returncode == 0


def test_pixel_checks_of_an_association_run_when_it_ends(listener):
    result = send(listener.port, get_testdata_file("CT_small.dcm"))
    assert result.returncode == 0, result.stdout
    assert eventually(lambda: Instance.objects.get().pixels_checked)


def children_of(pid: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError):
            continue
        if parent == pid:
            children.append(int(stat.parent.name))
    return children


@pytest.mark.parametrize("processes", [1, 2])
def test_the_listener_command_serves_until_sigterm(sites, tmp_path, processes):
    RemoteAE.objects.create(ae_title=SENDER_AE, site=Site.objects.get(code="SUWON"))
    environment = {
        **os.environ,
        "DATABASE_URL": child_database_url(),
        "VAR_DIR": str(tmp_path / "var"),
        "STORAGE_DIR": str(settings.STORAGE_DIR),
        "PYTHONUNBUFFERED": "1",
    }
    command = [
        sys.executable,
        str(MANAGE),
        "dicom_listener",
        "--port",
        "0",
        "--ae-title",
        OUR_AE,
    ]
    command += ["--processes", str(processes)]
    process = subprocess.Popen(
        command,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines = []
        while not any("listening as" in line for line in lines):
            line = process.stdout.readline()
            assert line, "".join(lines)
            lines.append(line)
        port = int(re.search(r":(\d+)", lines[-1]).group(1))
        files = write_series(tmp_path / "series", 8)
        senders = [storescu(port, *files[:4]), storescu(port, *files[4:])]
        for sender in senders:
            output, _ = sender.communicate(timeout=60)
            assert sender.returncode == 0, output
        assert Instance.objects.count() == 8
        workers = children_of(process.pid)
        assert len(workers) == processes - 1
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
        assert process.returncode == 0, output
        assert "stopped" in output
        assert not any(Path(f"/proc/{pid}").exists() for pid in workers)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
