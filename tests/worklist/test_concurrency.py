"""Battery L2 in small: the same study sent by several workers at once (threads in this process,
then separate import processes) ends as one copy, with the right counts on Study and Series.
On PostgreSQL this is the real race; on SQLite, WAL and IMMEDIATE transactions serialize the
writers and the test checks that they wait for each other instead of failing."""

import random
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from accounts.models import Site
from tests.worklist.manage_subprocess import run_manage
from tests.worklist.tiny_datasets import ct_dataset, part10
from worklist.ingest import ingest
from worklist.models import Instance, Patient, Series, Study

pytestmark = pytest.mark.django_db(transaction=True)

STUDY_UID = "1.2.826.0.1.3680043.10.99.9"
SERIES_UIDS = ("1.2.826.0.1.3680043.10.99.9.1", "1.2.826.0.1.3680043.10.99.9.2")
PER_SERIES = 6
WORKERS = 4


def study_files() -> list[bytes]:
    files = []
    for series_uid in SERIES_UIDS:
        for number in range(1, PER_SERIES + 1):
            dataset = ct_dataset(study_uid=STUDY_UID, series_uid=series_uid)
            dataset.InstanceNumber = number
            files.append(part10(dataset))
    return files


def assert_one_copy(sent: int) -> None:
    root = Path(settings.STORAGE_DIR)
    keys = {str(path.relative_to(root)) for path in root.glob("??/??/*.dcm")}
    assert set(Instance.objects.values_list("file_key", flat=True)) == keys
    assert Instance.objects.values("sop_instance_uid").distinct().count() == len(keys) == sent
    assert Patient.objects.count() == 1
    study = Study.objects.get()
    assert (study.instance_count, study.series_count, study.modalities) == (
        sent,
        len(SERIES_UIDS),
        "CT",
    )
    assert sorted(Series.objects.values_list("instance_count", flat=True)) == [PER_SERIES] * len(SERIES_UIDS)


def test_the_same_study_ingested_by_several_threads_at_once_is_stored_once(sites):
    files = study_files()
    start = threading.Barrier(WORKERS)
    site_id = sites["SUWON"].pk

    def worker(seed: int) -> list[str]:
        order = files[:]
        random.Random(seed).shuffle(order)
        try:
            site = Site.objects.get(pk=site_id)
            start.wait(timeout=30)
            return [ingest(data, site=site, source="test").outcome for data in order]
        finally:
            connection.close()

    with ThreadPoolExecutor(WORKERS) as pool:
        outcomes = [outcome for result in pool.map(worker, range(WORKERS)) for outcome in result]

    assert outcomes.count("stored") == len(files)
    assert outcomes.count("already_present") == len(files) * (WORKERS - 1)
    assert_one_copy(len(files))


def test_the_same_folder_imported_by_three_processes_at_once_is_stored_once(sites, tmp_path):
    folder = tmp_path / "study"
    folder.mkdir()
    files = study_files()
    for index, data in enumerate(files):
        (folder / f"IM{index:03d}").write_bytes(data)
    arguments = ("import_dicom", str(folder), "--site", "SUWON", "--quiet")

    with ThreadPoolExecutor(3) as pool:
        runs: list[subprocess.CompletedProcess] = list(
            pool.map(lambda _: run_manage(*arguments, var_dir=tmp_path), range(3))
        )

    for run in runs:
        assert run.returncode == 0, run.stderr
        assert "failed" not in run.stdout
    stored = sum(int(line.split()[1]) for run in runs for line in run.stdout.splitlines() if "stored" in line)
    assert stored == len(files)
    assert_one_copy(len(files))
