"""The demo that ./run sets up: sites, one user per role, studies of the four areas at the three
sites with their ground truth, the prior already read, and nothing doubled by a second run;
the real sample studies where the shared samples are, and a partial copy of them tolerated."""

import json
import shutil

import pytest
from django.core.management import call_command
from pydicom import dcmread
from pydicom.data import get_testdata_file

from accounts.models import Role, User
from tests.conftest import samples_dir
from worklist import demo_setup
from worklist.models import Study, StudyStatus

pytestmark = pytest.mark.django_db


def test_setup_demo_builds_a_complete_demo_once(settings, tmp_path, capsys):
    settings.VAR_DIR = tmp_path
    call_command("setup_demo", "--scale", "0.1", "--samples", str(tmp_path / "absent"))
    output = capsys.readouterr().out
    assert "rad.suwon" in output and "readingws-demo" in output

    roles = set(User.objects.values_list("role", flat=True))
    assert roles == {Role.RADIOLOGIST, Role.DEPARTMENT_HEAD, Role.ADMIN, Role.DATA_STEWARD}
    assert User.objects.get(username="rad.anseong").all_sites
    assert User.objects.get(username="admin").is_superuser

    areas_by_site = set(Study.objects.exclude(clinical_area="other").values_list("site__code", "clinical_area"))
    assert areas_by_site == {
        (site, area) for site in ("SUWON", "ICHEON", "ANSEONG") for area in ("lung", "breast", "stroke", "dementia")
    }
    prior = Study.objects.filter(clinical_area="breast").order_by("study_date").first()
    assert prior.status == StudyStatus.READ and prior.read_by.username == "rad.suwon"
    assert Study.objects.filter(patient__name__contains="김").exists()

    truth = json.loads((tmp_path / "demo-ground-truth.json").read_text())
    kinds = {lesion["kind"] for study in truth for lesion in study["lesions"]}
    assert kinds == {"lung_nodule", "breast_mass", "haemorrhage", "atrophy"}

    studies = Study.objects.count()
    call_command("setup_demo", "--scale", "0.1", "--samples", str(tmp_path / "absent"))
    assert "0 instances stored" in capsys.readouterr().out
    assert Study.objects.count() == studies


def test_the_real_sample_studies_land_at_their_sites_with_nothing_refused():
    samples = samples_dir()
    sites = demo_setup.ensure_sites_and_peers()
    counts = demo_setup.load_sample_studies(sites, samples)

    assert (counts.studies, counts.refused) == (len(demo_setup.SHARED_SAMPLE_STUDIES), 0)
    files = 0
    for relative, site_code in demo_setup.SHARED_SAMPLE_STUDIES:
        path = samples / relative
        study_files = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]
        files += len(study_files)
        study_uids = {dcmread(file, stop_before_pixels=True).StudyInstanceUID for file in study_files}
        placed = set(Study.objects.filter(study_instance_uid__in=study_uids).values_list("site__code", flat=True))
        assert placed == {site_code}, relative
        assert Study.objects.filter(study_instance_uid__in=study_uids).count() == len(study_uids), relative
    assert counts.stored + counts.already_present == files


def test_a_sample_study_whose_files_are_missing_is_skipped_with_a_note(tmp_path, capsys):
    # A partial copy of the samples: one single-file study and one folder study present, the
    # others absent or an empty folder.
    samples = tmp_path / "dicom-samples"
    single = samples / "pydicom-data" / "RG1_UNCR.dcm"
    folder = samples / "brain-ct_dcm_qa_ct" / "GE_head"
    for parent in (single.parent, folder, samples / "nema-wg04" / "mr-brain"):
        parent.mkdir(parents=True)
    shutil.copyfile(get_testdata_file("CT_small.dcm"), single)
    shutil.copyfile(get_testdata_file("MR_small.dcm"), folder / "MR_small.dcm")
    sites = demo_setup.ensure_sites_and_peers()

    counts = demo_setup.load_sample_studies(sites, samples)

    assert (counts.studies, counts.stored, counts.refused) == (2, 2, 0)
    assert set(Study.objects.values_list("modalities", "site__code")) == {("CT", "SUWON"), ("MR", "ICHEON")}
    notes = capsys.readouterr().out
    for relative, _ in demo_setup.SHARED_SAMPLE_STUDIES:
        skipped = f"skipped the sample study {relative}: its files are missing" in notes
        assert skipped == (relative not in ("pydicom-data/RG1_UNCR.dcm", "brain-ct_dcm_qa_ct/GE_head")), relative
