"""Battery F1: an import killed at each step of an ingest (temporary file written, file renamed
into the archive, inside the transaction, after the commit) leaves nothing the repair cannot
bring back into agreement, and importing again stores every instance exactly once."""

import io
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from tests.worklist.manage_subprocess import run_manage
from tests.worklist.tiny_datasets import ct_dataset, part10
from worklist import archive_files
from worklist.archive_repair import repair_archive
from worklist.fault_injection import FAULT_EXIT_STATUS
from worklist.models import Instance, Series, Study

pytestmark = pytest.mark.django_db(transaction=True)

SERIES_SIZE = 3
# What the killed process leaves behind: (temporary files, archive files without a row, rows).
LEFT_BEHIND = {
    "before_rename": (1, 0, 0),
    "after_file_written": (0, 1, 0),
    "before_commit": (0, 1, 0),
    "after_commit": (0, 0, 1),
}


@pytest.fixture
def series_folder(tmp_path) -> Path:
    folder = tmp_path / "series"
    folder.mkdir()
    study, series = "1.2.826.0.1.3680043.10.99.7", "1.2.826.0.1.3680043.10.99.7.1"
    for number in range(1, SERIES_SIZE + 1):
        dataset = ct_dataset(study_uid=study, series_uid=series)
        dataset.InstanceNumber = number
        (folder / f"IM{number}").write_bytes(part10(dataset))
    return folder


def archive_keys() -> set[str]:
    root = Path(settings.STORAGE_DIR)
    return {str(path.relative_to(root)) for path in root.glob("??/??/*.dcm")}


def temporary_files() -> list[Path]:
    folder = Path(settings.STORAGE_DIR) / archive_files.TEMP_FOLDER
    return list(folder.iterdir()) if folder.is_dir() else []


def assert_index_and_archive_agree() -> None:
    assert set(Instance.objects.values_list("file_key", flat=True)) == archive_keys()
    assert temporary_files() == []


@pytest.mark.parametrize("fault_point", sorted(LEFT_BEHIND))
def test_an_import_killed_at_each_step_is_repaired_and_imports_again_once(sites, series_folder, tmp_path, fault_point):
    killed = run_manage(
        "import_dicom",
        str(series_folder),
        "--site",
        "SUWON",
        "--quiet",
        var_dir=tmp_path,
        fault_at=fault_point,
    )
    assert killed.returncode == FAULT_EXIT_STATUS, killed.stderr
    assert "stored" not in killed.stdout  # died before its summary
    temporary, orphans, rows = LEFT_BEHIND[fault_point]
    assert (len(temporary_files()), len(archive_keys()) - Instance.objects.count()) == (
        temporary,
        orphans,
    )
    assert Instance.objects.count() == rows

    report = repair_archive(older_than_seconds=0)
    assert (report.temporary_files_removed, report.orphan_files_removed) == (
        temporary,
        orphans,
    )
    assert report.rows_without_file == 0
    assert_index_and_archive_agree()

    again = run_manage("import_dicom", str(series_folder), "--site", "SUWON", var_dir=tmp_path)
    assert again.returncode == 0, again.stderr
    assert f"  stored            {SERIES_SIZE - rows:6d}" in again.stdout
    assert f"  already present   {rows:6d}" in again.stdout
    assert_index_and_archive_agree()
    assert Instance.objects.count() == len(archive_keys()) == SERIES_SIZE
    study = Study.objects.get()
    assert (
        study.instance_count,
        study.series_count,
        Series.objects.get().instance_count,
    ) == (
        SERIES_SIZE,
        1,
        SERIES_SIZE,
    )


def test_archive_check_reports_the_leftovers_and_repairs_them(sites, series_folder, tmp_path):
    killed = run_manage(
        "import_dicom",
        str(series_folder),
        "--site",
        "SUWON",
        var_dir=tmp_path,
        fault_at="before_commit",
    )
    assert killed.returncode == FAULT_EXIT_STATUS
    stdout = io.StringIO()
    with pytest.raises(CommandError, match="disagree"):
        call_command("archive_check", "--older-than", "0", stdout=stdout)
    assert "orphan files              1" in stdout.getvalue()

    young = io.StringIO()
    call_command("archive_check", "--repair", stdout=young)  # default age: the file may be in use
    assert "removed 0 temporary and 0 orphan files" in young.getvalue()

    repaired = io.StringIO()
    call_command("archive_check", "--repair", "--older-than", "0", stdout=repaired)
    assert "removed 0 temporary and 1 orphan files" in repaired.getvalue()
    call_command("archive_check", "--older-than", "0", stdout=io.StringIO())  # clean: no error


def test_archive_check_names_rows_whose_file_is_gone(sites, series_folder, tmp_path):
    assert run_manage("import_dicom", str(series_folder), "--site", "SUWON", var_dir=tmp_path).returncode == 0
    lost = Instance.objects.order_by("id").first()
    archive_files.remove(lost.file_key)
    stdout = io.StringIO()
    with pytest.raises(CommandError, match="1 rows have no file"):
        call_command("archive_check", "--repair", "--older-than", "0", stdout=stdout)
    assert f"instance {lost.pk}: file missing" in stdout.getvalue()
