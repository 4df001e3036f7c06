"""A study to read: a small CT ingested the real way, one AI result stored through the intake with
five findings (point, box, outline, 3D box, whole study), and helpers to claim and decide."""

from dataclasses import dataclass

from django.test import Client

from ai_overlays.intake import store_result
from ai_overlays.models import AIModel, Finding
from tests.ai_overlays.factories import TinyCT, ingest_ct, make_model, result_payload
from worklist.models import Study
from worklist.workflow import claim_study


@dataclass
class ReadingCase:
    ct: TinyCT
    findings: list[Finding]  # in the payload's order: point, box, polygon, box3d, study-level

    @property
    def study(self) -> Study:
        return Study.objects.get(pk=self.ct.study.pk)

    @property
    def uid(self) -> str:
        return self.ct.study.study_instance_uid


def reading_case(site, *, clinical_area: str = "lung") -> ReadingCase:
    ct = ingest_ct(site, slices=3, rows=16, columns=16)
    Study.objects.filter(pk=ct.study.pk).update(clinical_area=clinical_area)
    ct.study.refresh_from_db()
    model = AIModel.objects.filter(vendor="Acme", product="LungNet", version="2.1").first() or make_model()
    payload = result_payload(model, ct, result_id=f"res-{ct.study.pk}")
    outcome = store_result(payload=payload, engine=None, source="api")
    return ReadingCase(ct=ct, findings=list(outcome.result.findings.order_by("id")))


def claimed_by(user, case: ReadingCase) -> Study:
    return claim_study(user=user, study=case.study, source="test")


def as_user(user) -> Client:
    client = Client()
    client.force_login(user)
    return client
