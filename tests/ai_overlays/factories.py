"""Shared builders for the AI tests: registered models, engines with their bearer token, a small
CT study ingested the real way, and result payloads in THE AI RESULT CONTRACT."""

import base64
from dataclasses import dataclass

from pydicom.uid import generate_uid

from accounts.models import ApiToken, Role, Site, User
from ai_overlays.models import AIEngine, AIModel
from tests.worklist.tiny_datasets import ct_dataset, part10
from worklist.ingest import ingest
from worklist.models import Study


def make_model(
    vendor: str = "Acme",
    product: str = "LungNet",
    version: str = "2.1",
    *,
    clinical_area: str = "lung",
    modalities: str = "CT",
    **fields,
) -> AIModel:
    return AIModel.objects.create(
        vendor=vendor, product=product, version=version, clinical_area=clinical_area, modalities=modalities, **fields
    )


def make_engine(
    name: str = "acme-engine", *, models: list[AIModel], sites: list[Site], user: User | None = None, **fields
) -> tuple[AIEngine, str]:
    """An engine with its service account and the only copy of a fresh bearer token."""
    if user is None:
        user = User.objects.create_user(f"svc-{name}", role=Role.AI_ENGINE)
    engine = AIEngine.objects.create(name=name, user=user, **fields)
    engine.ai_models.set(models)
    engine.sites.set(sites)
    _, key = ApiToken.issue(user=user, name=f"{name} token")
    return engine, key


@dataclass
class TinyCT:
    """A CT study of `slices` slices of rows x columns, as the index holds it."""

    study: Study
    series_uid: str
    sop_uids: list[str]  # in instance number order
    rows: int
    columns: int


def ingest_ct(site: Site, *, slices: int = 3, rows: int = 16, columns: int = 16, patient_name: str = "") -> TinyCT:
    study_uid, series_uid = generate_uid(), generate_uid()
    sop_uids = []
    for number in range(1, slices + 1):
        dataset = ct_dataset(rows=rows, columns=columns, study_uid=study_uid, series_uid=series_uid)
        dataset.InstanceNumber = number
        if patient_name:
            dataset.PatientName = patient_name
        outcome = ingest(part10(dataset), site=site, source="test")
        assert outcome.ok, outcome
        sop_uids.append(dataset.SOPInstanceUID)
    return TinyCT(Study.objects.get(study_instance_uid=study_uid), series_uid, sop_uids, rows, columns)


def model_ref(model: AIModel) -> dict:
    return {"vendor": model.vendor, "product": model.product, "version": model.version}


def raw_heatmap(ct: TinyCT, sop_uid: str, *, fill: int = 128) -> dict:
    return {
        "series_instance_uid": ct.series_uid,
        "sop_instance_uid": sop_uid,
        "frame": 1,
        "rows": ct.rows,
        "columns": ct.columns,
        "encoding": "raw",
        "data": base64.b64encode(bytes([fill]) * (ct.rows * ct.columns)).decode(),
    }


def result_payload(model: AIModel, ct: TinyCT, *, result_id: str = "res-1", **fields) -> dict:
    """A valid result with one finding of each geometry and one raw heatmap."""
    first = ct.sop_uids[0]
    payload = {
        "result_id": result_id,
        "model": model_ref(model),
        "study_instance_uid": ct.study.study_instance_uid,
        "case_score": 87.5,
        "triage_flag": False,
        "summary": "Two nodules",
        "findings": [
            {"type": "nodule", "label": "Solid nodule 8 mm", "score": 91.0, "sop_instance_uid": first, "point": [4, 5]},
            {"type": "nodule", "score": 60, "sop_instance_uid": first, "box": [1, 1, 6.5, 7]},
            {"type": "mass", "sop_instance_uid": first, "polygon": [[1, 1], [8, 1], [4, 9]]},
            {
                "type": "nodule",
                "series_instance_uid": ct.series_uid,
                "box3d": {"min": [2, 2, 0], "max": [6, 6, len(ct.sop_uids) - 1]},
            },
            {"type": "emphysema", "label": "Mild emphysema"},
        ],
        "heatmaps": [raw_heatmap(ct, first)],
    }
    payload.update(fields)
    return payload
