"""The demo that ./run sets up: sites, one user per role, studies of the four areas at the three
sites with their ground truth, the prior already read, and nothing doubled by a second run."""

import json

import pytest
from django.core.management import call_command

from accounts.models import Role, User
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
