"""The built-in reference engine on generated studies with planted lesions: what it finds, what it
leaves alone on normal studies, and that its payloads pass the intake like any vendor's."""

import base64
import io

import numpy as np
import pytest
from django.core.management import call_command

from ai_overlays.intake import store_result
from ai_overlays.models import AIEngine, AIModel, AIResult, EngineKind, Finding
from ai_overlays.reference_engine import analyse_datasets, analyse_study
from ai_overlays.reference_engine.products import PRODUCTS
from dicomkit.synthetic import brain_ct, brain_mri_t1, chest_ct, demo_catalogue, mammography_exam
from worklist.ingest import ingest
from worklist.models import Study

NOTICE = "Reference engine, not for clinical use."


def _contract_order(study) -> list[str]:
    """SOP Instance UIDs in the contract's slice order (by position along the normal)."""
    return [ds.SOPInstanceUID for ds in sorted(study.datasets, key=lambda ds: float(ds.ImagePositionPatient[2]))]


def _contract_slice(study, lesion) -> int:
    return _contract_order(study).index(lesion.sop_instance_uid)


def _box3d_hits(findings, study, lesion, tolerance_mm) -> bool:
    spacing = float(study.datasets[0].PixelSpacing[0])
    column, row = lesion.centre_voxel[0] + 0.5, lesion.centre_voxel[1] + 0.5
    for finding in findings:
        if "box3d" not in finding:
            continue
        (x0, y0, s0), (x1, y1, s1) = finding["box3d"]["min"], finding["box3d"]["max"]
        centre_distance = np.hypot((x0 + x1) / 2 - column, (y0 + y1) / 2 - row) * spacing
        if centre_distance <= tolerance_mm and s0 - 1 <= _contract_slice(study, lesion) <= s1 + 1:
            return True
    return False


def _raw_heatmap(heatmap) -> np.ndarray:
    data = np.frombuffer(base64.b64decode(heatmap["data"]), dtype=np.uint8)
    return data.reshape(heatmap["rows"], heatmap["columns"])


@pytest.fixture(scope="module")
def analysed_chests():
    """Small chest CTs (100 x 256 x 256; smaller matrices turn vessels into 4 mm "nodules"): two
    with three nodules each, and a normal chest."""
    planted = [chest_ct(slices=100, size=256, seed=seed, nodule_count=3) for seed in (5, 6)]
    normal = [chest_ct(slices=100, size=256, seed=seed, nodule_count=0) for seed in (3,)]
    return [(study, analyse_datasets(study.datasets, "lung")[0]) for study in planted + normal]


@pytest.fixture(scope="module")
def analysed_demo_projections():
    """The demo's chest radiographs and mammograms at half size, as `./run --scale 0.5` loads them."""
    studies = demo_catalogue(scale=0.5, kinds={"chest_xray", "mammography"})
    return [(study, analyse_datasets(study.datasets, study.clinical_area)[0]) for study in studies]


def test_lung_nodules_are_found_in_3d_and_normal_chests_stay_quiet(analysed_chests):
    found = planted = 0
    for study, payload in analysed_chests:
        if study.lesions:
            planted += len(study.lesions)
            found += sum(_box3d_hits(payload["findings"], study, lesion, 8.0) for lesion in study.lesions)
            assert payload["case_score"] >= 50
        else:
            assert payload["findings"] == []
            assert payload["case_score"] < 40
    assert planted >= 5 and found / planted >= 0.9


def test_each_nodule_has_a_2d_box_on_its_centre_slice_and_a_heatmap_there(analysed_chests):
    study, payload = analysed_chests[0]
    order = _contract_order(study)
    heatmaps = {heatmap["sop_instance_uid"]: heatmap for heatmap in payload["heatmaps"]}
    flat = [f for f in payload["findings"] if "sop_instance_uid" in f]
    assert set(heatmaps) == {f["sop_instance_uid"] for f in flat}
    for lesion in study.lesions:
        column, row = (round(c) for c in lesion.centre_voxel[:2])
        near = [f for f in flat if abs(order.index(f["sop_instance_uid"]) - _contract_slice(study, lesion)) <= 1]
        # The heatmap peaks at the nodule: at least 80 % of the finding's score right on its centre.
        assert any(
            _raw_heatmap(heatmaps[f["sop_instance_uid"]])[row, column] >= 0.8 * 255 * f["score"] / 100 for f in near
        )


def test_haemorrhage_is_found_and_flagged_urgent_and_normal_heads_are_not():
    for seed in (1, 2, 4, 5):
        study = brain_ct(slices=20, size=160, seed=seed)
        (payload,) = analyse_datasets(study.datasets, "stroke")
        assert payload["triage_flag"] is True
        assert _box3d_hits(payload["findings"], study, study.lesions[0], 6.0)
        assert payload["case_score"] >= 80
    for seed in (3, 6):
        (payload,) = analyse_datasets(brain_ct(slices=20, size=160, seed=seed, haemorrhage=False).datasets, "stroke")
        assert payload["triage_flag"] is False
        assert payload["findings"] == []


def test_atrophy_scores_rise_with_the_grade_and_stay_low_without_atrophy():
    scores = {}
    for grade in range(4):
        study = brain_mri_t1(slices=80, size=128, seed=3, atrophy_grade=grade)
        (payload,) = analyse_datasets(study.datasets, "dementia")
        (finding,) = payload["findings"]
        assert "box" not in finding and "box3d" not in finding and "sop_instance_uid" not in finding
        scores[grade] = payload["case_score"]
    assert scores[0] < 20 < scores[1] < scores[2] < scores[3]
    assert scores[2] >= 50


def _flat_hit(findings, lesion, spacing_mm, tolerance_mm) -> bool:
    for finding in findings:
        if finding["sop_instance_uid"] != lesion.sop_instance_uid:
            continue
        x, y = finding["point"] if "point" in finding else np.reshape(finding["box"], (2, 2)).mean(axis=0)
        column, row = lesion.centre_voxel
        if np.hypot(x - column - 0.5, y - row - 0.5) * spacing_mm <= lesion.diameter_mm / 2 + tolerance_mm:
            return True
    return False


def test_the_demo_chest_radiographs_show_their_nodule_and_the_normal_one_stays_quiet(analysed_demo_projections):
    radiographs = [(study, payload) for study, payload in analysed_demo_projections if study.modality == "DX"]
    assert len(radiographs) == 3
    for study, payload in radiographs:
        spacing = float(study.datasets[0].PixelSpacing[0])
        if study.lesions:
            (nodule,) = study.lesions
            assert _flat_hit(payload["findings"], nodule, spacing, 8.0)
            assert len(payload["findings"]) == 1 and payload["case_score"] >= 50
            (heatmap,) = payload["heatmaps"]
            assert heatmap["sop_instance_uid"] == nodule.sop_instance_uid
        else:
            assert payload["findings"] == [] and payload["heatmaps"] == []
            assert payload["case_score"] < 50


def test_the_demo_breast_masses_are_reported_on_both_views_of_their_side_and_nowhere_else(
    analysed_demo_projections,
):
    exams = [(study, payload) for study, payload in analysed_demo_projections if study.modality == "MG"]
    assert len(exams) == 4
    for study, payload in exams:
        if min(lesion.diameter_mm for lesion in study.lesions) < 10:
            continue  # the prior exam's 7 mm mass: below what this engine claims to find
        spacing = float(study.datasets[0].PixelSpacing[0])
        assert len(study.lesions) == 2
        assert all(_flat_hit(payload["findings"], lesion, spacing, 8.0) for lesion in study.lesions)
        lesion_views = {lesion.sop_instance_uid for lesion in study.lesions}
        assert {f["sop_instance_uid"] for f in payload["findings"]} == lesion_views
        assert all("box" in f for f in payload["findings"])
        assert {h["sop_instance_uid"] for h in payload["heatmaps"]} == lesion_views
        assert payload["case_score"] >= 50


def test_a_normal_mammogram_gets_no_finding_and_a_low_case_score():
    (payload,) = analyse_datasets(mammography_exam(rows=1024, columns=832, seed=4, mass=False).datasets, "breast")
    assert payload["findings"] == [] and payload["heatmaps"] == []
    assert payload["case_score"] < 50


def test_every_payload_names_its_reference_model_and_says_not_for_clinical_use():
    study = brain_ct(slices=12, size=128, seed=1)
    (payload,) = analyse_datasets(study.datasets, "stroke")
    assert payload["summary"].startswith(NOTICE)
    assert payload["model"] == {"vendor": "Reading workstation", "product": "Reference stroke CT", "version": "1.0"}
    assert payload["result_id"] == f"reference-stroke-ct-{study.study_instance_uid}"
    assert analyse_datasets(study.datasets, "dementia") == []  # the dementia model reads MR only


@pytest.mark.django_db
def test_setup_reference_engine_registers_models_and_engine_once(sites):
    call_command("setup_reference_engine", stdout=io.StringIO())
    call_command("setup_reference_engine", stdout=io.StringIO())
    assert AIModel.objects.filter(is_reference=True).count() == len(PRODUCTS)
    engine = AIEngine.objects.get()
    assert engine.kind == EngineKind.REFERENCE and engine.user.role == "ai_engine"
    assert engine.sites.count() == 3 and engine.ai_models.count() == len(PRODUCTS)
    assert set(AIModel.objects.values_list("regulatory_clearance", flat=True)) == {"none — not for clinical use"}
    assert len(set(AIModel.objects.values_list("colour", flat=True))) == len(PRODUCTS)


@pytest.mark.django_db
def test_an_ingested_head_ct_is_analysed_from_the_archive_and_stored_through_the_intake(sites):
    call_command("setup_reference_engine", stdout=io.StringIO())
    generated = brain_ct(slices=12, size=128, seed=2, site_code="SUWON")
    for dataset in generated.datasets:
        buffer = io.BytesIO()
        dataset.save_as(buffer, enforce_file_format=True)
        ingest(buffer.getvalue(), site=sites["SUWON"], source="test")
    study = Study.objects.get(study_instance_uid=generated.study_instance_uid)
    study.clinical_area = "stroke"
    study.save(update_fields=["clinical_area"])
    engine = AIEngine.objects.get(name="reference")

    (payload,) = analyse_study(study)
    outcome = store_result(payload=payload, engine=engine)
    again = store_result(payload=analyse_study(study)[0], engine=engine)

    assert outcome.created and not again.created
    result = AIResult.objects.get()
    assert result.triage_flag and result.ai_model.is_reference
    assert Finding.objects.filter(result=result, finding_type="haemorrhage").exists()
    assert result.heatmaps.count() >= 1


@pytest.mark.parametrize("spacing", [None, [0, 0], [0.0, 0.2], [-1, 0.5], [0.2]])
def test_an_image_without_a_usable_pixel_spacing_is_read_as_one_millimetre(spacing):
    from pydicom import Dataset

    from ai_overlays.reference_engine.images import pixel_spacing

    dataset = Dataset()
    if spacing is not None:
        dataset.PixelSpacing = spacing
    assert pixel_spacing(dataset) == (1.0, 1.0)
