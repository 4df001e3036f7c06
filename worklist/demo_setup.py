"""The demo that `./run` sets up: the three sites, their PACS AE titles, one user per role, and
studies (generated with planted lesions, plus real ones where the shared samples exist)."""

import dataclasses
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from pydicom.filewriter import dcmwrite

from accounts.models import Role, Site, User
from worklist import workflow
from worklist.ingest import ingest
from worklist.models import RemoteAE, Study, StudyStatus

DEMO_PASSWORD = "readingws-demo"  # noqa: S105  (printed by ./run for the demo users)
SITES = [
    ("SUWON", "Suwon Hospital", False),
    ("ICHEON", "Icheon Hospital", False),
    ("ANSEONG", "Anseong Hospital", True),
]
# (username, full name, role, site codes, member of every site)
DEMO_USERS = [
    ("rad.suwon", "Kim Minjun", Role.RADIOLOGIST, ["SUWON"], False),
    ("rad.icheon", "Lee Seoyeon", Role.RADIOLOGIST, ["ICHEON"], False),
    ("rad.anseong", "Park Jihoon", Role.RADIOLOGIST, ["ANSEONG"], True),
    ("head", "Choi Yuna", Role.DEPARTMENT_HEAD, [], True),
    ("admin", "Jung Hyunwoo", Role.ADMIN, [], True),
    ("steward", "Kang Soyeon", Role.DATA_STEWARD, [], False),
]
# Real studies from ../shared/dicom-samples shown beside the generated ones: (folder or file, site).
SHARED_SAMPLE_STUDIES = [
    ("chest-ct_lung-pet-ct-dx/Lung_Dx-A0001_CT_5mm", "ANSEONG"),
    ("brain-ct_dcm_qa_ct/GE_head", "ICHEON"),
    ("pydicom-data/RG1_UNCR.dcm", "SUWON"),
    ("nema-wg04/mammo/MG1_J2KI", "ANSEONG"),
    ("nema-wg04/mr-brain", "SUWON"),
]
PACKAGED_SAMPLES = ["CT_small.dcm", "MR_small.dcm", "JPEG2000.dcm"]


@dataclass
class DemoCounts:
    studies: int = 0
    stored: int = 0
    already_present: int = 0
    refused: int = 0

    def add(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)


@transaction.atomic
def ensure_sites_and_peers() -> dict[str, Site]:
    sites = {}
    for code, name, is_hub in SITES:
        sites[code], _ = Site.objects.update_or_create(code=code, defaults={"name": name, "is_hub": is_hub})
        RemoteAE.objects.get_or_create(ae_title=f"{code}_PACS", defaults={"site": sites[code]})
    RemoteAE.objects.get_or_create(
        ae_title="STORESCU", defaults={"site": sites["ANSEONG"], "description": "dcmtk's default calling AE"}
    )
    return sites


@transaction.atomic
def ensure_demo_users(sites: dict[str, Site]) -> list[User]:
    users = []
    for username, full_name, role, site_codes, all_sites in DEMO_USERS:
        first, last = full_name.split(" ", 1)
        user, created = User.objects.get_or_create(username=username)
        user.first_name, user.last_name, user.role, user.all_sites = last, first, role, all_sites
        user.is_staff = user.is_superuser = role == Role.ADMIN
        if created:
            user.set_password(DEMO_PASSWORD)
        user.save()
        user.sites.set([sites[code] for code in site_codes])
        users.append(user)
    return users


def load_generated_studies(sites: dict[str, Site], *, scale: float) -> DemoCounts:
    from dicomkit.synthetic import demo_catalogue

    counts = DemoCounts()
    truth = []
    for study in demo_catalogue(scale=scale):
        counts.studies += 1
        for dataset in study.datasets:
            buffer = io.BytesIO()
            dcmwrite(buffer, dataset, enforce_file_format=True)
            counts.add(ingest(buffer.getvalue(), site=sites[study.site_code], source="demo").outcome)
        truth.append(
            {
                "study_instance_uid": study.study_instance_uid,
                "site": study.site_code,
                "clinical_area": study.clinical_area,
                "lesions": [dataclasses.asdict(lesion) for lesion in study.lesions],
            }
        )
    _mark_priors_read(sites)
    # Kept for the tests of the AI engines: where each planted lesion is.
    truth_path = Path(settings.VAR_DIR) / "demo-ground-truth.json"
    truth_path.parent.mkdir(parents=True, exist_ok=True)
    truth_path.write_text(json.dumps(truth, indent=1, default=list))
    return counts


def load_sample_studies(
    sites: dict[str, Site], samples: Path | None, *, note: Callable[[str], object] = print
) -> DemoCounts:
    """Real anatomy: the shared samples where present, else the files pydicom's package ships.
    A sample study whose files are missing (a partial copy of the samples) is skipped with a note."""
    counts = DemoCounts()
    if samples is not None and samples.is_dir():
        for relative, site_code in SHARED_SAMPLE_STUDIES:
            files = _sample_files(samples / relative)
            if not files:
                note(f"skipped the sample study {relative}: its files are missing from {samples}")
                continue
            counts.studies += 1
            for file in files:
                counts.add(ingest(file.read_bytes(), site=sites[site_code], source="demo").outcome)
        return counts
    from pydicom.data import get_testdata_file

    for name in PACKAGED_SAMPLES:
        counts.studies += 1
        with open(get_testdata_file(name), "rb") as handle:
            counts.add(ingest(handle.read(), site=sites["ANSEONG"], source="demo").outcome)
    return counts


def _sample_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file())
    return [path] if path.is_file() else []


def _mark_priors_read(sites: dict[str, Site]) -> None:
    """A prior exam from months ago was read back then: sign it as the site's radiologist did."""
    from dicomkit.synthetic import REFERENCE_DATETIME

    cutoff = REFERENCE_DATETIME.date() - timedelta(days=180)
    for study in Study.objects.filter(study_date__lt=cutoff, status=StudyStatus.ARRIVED, site__in=sites.values()):
        reader = User.objects.filter(role=Role.RADIOLOGIST, sites=study.site).order_by("id").first()
        if reader is None:
            continue
        workflow.claim_study(user=reader, study=study)
        workflow.mark_read(user=reader, study=study)
