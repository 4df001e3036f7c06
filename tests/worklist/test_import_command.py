"""manage.py import_dicom on folders and ZIP archives: what it stores, what it refuses and says
why, the summary and the audit row, and a progress bar only on a terminal."""

import io
import os

import pytest
from django.core.management import CommandError, call_command

from accounts.models import AuditAction, AuditEvent
from tests.worklist.manage_subprocess import run_manage
from tests.worklist.tiny_datasets import (
    ct_dataset,
    dicomdir_pointing_outside,
    part10,
    zip_of,
)
from worklist.models import Instance, Study


def series_files(count: int) -> list[bytes]:
    study, series = "1.2.826.0.1.3680043.10.99.1", "1.2.826.0.1.3680043.10.99.1.1"
    files = []
    for number in range(1, count + 1):
        dataset = ct_dataset(study_uid=study, series_uid=series)
        dataset.InstanceNumber = number
        files.append(part10(dataset))
    return files


@pytest.fixture
def export_folder(tmp_path):
    """A CD-export-like folder: images in subfolders, a DICOMDIR, a text file, a ZIP with a
    nested ZIP, an unsafe ZIP, a cut file and a symbolic link."""
    folder = tmp_path / "export"
    images = series_files(6)
    (folder / "DATA" / "S1").mkdir(parents=True)
    for index, data in enumerate(images[:3]):
        (folder / "DATA" / "S1" / f"IM{index}").write_bytes(data)
    (folder / "DICOMDIR").write_bytes(dicomdir_pointing_outside())
    (folder / "notes.txt").write_text("scanned by the night shift\n")
    (folder / "DATA" / "cut.dcm").write_bytes(images[3][:-10])
    inner = zip_of({"IM5.dcm": images[5]})
    (folder / "more.zip").write_bytes(zip_of({"IM4.dcm": images[4], "nested/inner.zip": inner}))
    (folder / "evil.zip").write_bytes(zip_of({"ok.dcm": images[0], "../../escape.dcm": images[1]}))
    (folder / "link.dcm").symlink_to(folder / "DATA" / "S1" / "IM0")
    (folder / "linked-folder").symlink_to(folder / "DATA")
    return folder


def import_dicom(*arguments: str, stderr: io.StringIO | None = None) -> str:
    stdout = io.StringIO()
    call_command("import_dicom", *arguments, stdout=stdout, stderr=stderr or io.StringIO())
    return stdout.getvalue()


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.django_db
def test_a_folder_import_stores_reads_zips_and_reports_refusals_by_reason(sites, export_folder):
    output = import_dicom(str(export_folder), "--site", "SUWON")

    assert Instance.objects.count() == 5  # IM0-2 in the folder, IM4 and the nested IM5
    study = Study.objects.get()
    assert (study.site.code, study.instance_count, study.series_count) == (
        "SUWON",
        5,
        1,
    )
    assert "  stored                 5" in output
    assert "  already present        0" in output
    assert "  skipped                1  DICOMDIR index files" in output
    assert "  skipped                2  symbolic links" in output
    assert "  refused                3" in output
    assert "zip_path_traversal: entry with '..' in its path: ../../escape.dcm" in output
    assert "not_dicom: not a DICOM file" in output
    assert "truncated: file ends inside element (7FE0,0010)" in output
    assert "notes.txt" not in output  # file names only with --verbose


@pytest.mark.django_db
def test_verbose_lists_each_refused_file_relative_to_its_argument(sites, export_folder):
    output = import_dicom(str(export_folder), "--site", "SUWON", "--verbose")
    assert "notes.txt: not a DICOM file" in output
    assert "DATA/cut.dcm: file ends inside element (7FE0,0010)" in output
    assert "evil.zip: entry with '..' in its path" in output
    assert str(export_folder) not in output


@pytest.mark.django_db
def test_a_second_import_finds_everything_already_present(sites, export_folder):
    import_dicom(str(export_folder), "--site", "SUWON")
    output = import_dicom(str(export_folder), "--site", "SUWON")
    assert "  stored                 0" in output
    assert "  already present        5" in output
    assert Instance.objects.count() == 5


@pytest.mark.django_db
def test_a_zip_file_given_directly_is_imported_with_member_names_in_the_listing(sites, tmp_path):
    images = series_files(2)
    archive = tmp_path / "study.zip"
    archive.write_bytes(zip_of({"a/IM1.dcm": images[0], "a/IM2.dcm": images[1], "a/readme.txt": b"hi"}))
    output = import_dicom(str(archive), "--site", "ICHEON", "--verbose")
    assert Instance.objects.count() == 2
    assert Study.objects.get().site.code == "ICHEON"
    assert "study.zip!a/readme.txt: not a DICOM file" in output


@pytest.mark.django_db
def test_a_file_over_the_upload_limit_is_refused_unread(sites, tmp_path, settings):
    settings.MAX_UPLOAD_BYTES = 1000
    (tmp_path / "big.dcm").write_bytes(series_files(1)[0] + bytes(1000))
    output = import_dicom(str(tmp_path / "big.dcm"), "--site", "SUWON")
    assert "too_large_file: file larger than 1000 bytes" in output
    assert Instance.objects.count() == 0


@pytest.mark.django_db
def test_the_run_writes_one_audit_row_with_the_counts(sites, export_folder):
    import_dicom(str(export_folder), "--site", "SUWON")
    event = AuditEvent.objects.get(action=AuditAction.INSTANCES_IMPORTED)
    assert event.success and event.source == "manage.py import_dicom"
    assert event.detail["site"] == "SUWON"
    assert (
        event.detail["stored"],
        event.detail["refused"],
        event.detail["index_files_skipped"],
    ) == (5, 3, 1)
    assert event.detail["refused_by_code"] == {
        "zip_path_traversal": 1,
        "not_dicom": 1,
        "truncated": 1,
    }


@pytest.mark.django_db
def test_an_unknown_site_or_a_missing_path_stops_before_anything_is_read(sites, export_folder):
    with pytest.raises(CommandError, match="unknown site 'BUSAN'"):
        import_dicom(str(export_folder), "--site", "BUSAN")
    with pytest.raises(CommandError, match="not found"):
        import_dicom(str(export_folder), str(export_folder / "missing"), "--site", "SUWON")
    assert Instance.objects.count() == 0 and not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_a_terminal_gets_a_progress_bar_unless_quiet(sites, export_folder):
    terminal = Terminal()
    import_dicom(str(export_folder), "--site", "SUWON", stderr=terminal)
    assert "\r[" in terminal.getvalue() and "9/9 files" in terminal.getvalue()

    quiet_terminal = Terminal()
    import_dicom(str(export_folder), "--site", "SUWON", "--quiet", stderr=quiet_terminal)
    assert quiet_terminal.getvalue() == ""


@pytest.mark.django_db(transaction=True)
def test_the_command_run_as_a_process_prints_a_summary_and_no_progress_bar_into_a_pipe(sites, export_folder, tmp_path):
    completed = run_manage("import_dicom", str(export_folder), "--site", "SUWON", var_dir=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert "  stored                 5" in completed.stdout
    assert "\r" not in completed.stderr and "files" not in completed.stderr
    assert Instance.objects.count() == 5
    assert os.path.exists(export_folder / "notes.txt")  # files are read in place, never moved
