"""The viewer's AI endpoints: every model's results for a study as the viewer draws them, the stored
heatmap PNGs, and who may read them (a radiologist of the study's site; not another site's, not an
AI engine's token, not an anonymous visitor), each reading audited."""

import io

import numpy as np
import pytest
from django.test import Client
from PIL import Image

from accounts.models import ApiToken, AuditAction, AuditEvent
from tests.ai_overlays.viewer_data import heatmap_png, make_model, store
from tests.conftest import make_user
from tests.worklist.studies import make_study

SOP = "1.2.410.200.9.1"
SERIES = "1.2.410.200.9"


@pytest.fixture
def suwon_study(sites):
    return make_study(sites["SUWON"])


@pytest.fixture
def lung_model(db):
    return make_model(regulatory_clearance="MFDS 2024-123")


@pytest.fixture
def stored(suwon_study, lung_model):
    return store(
        suwon_study,
        lung_model,
        case_score=87.5,
        summary="Two nodules",
        findings=[
            {
                "finding_type": "nodule",
                "label": "Solid nodule 8 mm",
                "score": 91.0,
                "geometry_kind": "box",
                "geometry": {"box": [10, 12, 30, 28]},
                "series_instance_uid": SERIES,
                "sop_instance_uid": SOP,
                "frame": 1,
            },
            {
                "finding_type": "nodule",
                "label": "",
                "score": 20.0,
                "geometry_kind": "point",
                "geometry": {"point": [40, 41]},
                "series_instance_uid": SERIES,
                "sop_instance_uid": SOP,
                "frame": 1,
            },
            {
                "finding_type": "mass",
                "score": 70.0,
                "geometry_kind": "box3d",
                "geometry": {"min": [5, 6, 2], "max": [15, 16, 4]},
                "series_instance_uid": SERIES,
            },
            {"finding_type": "emphysema", "geometry_kind": "none"},
        ],  # fmt: skip
        heatmaps=[
            {
                "series_instance_uid": SERIES,
                "sop_instance_uid": SOP,
                "frame": 1,
                "rows": 64,
                "columns": 48,
                "png": heatmap_png(64, 48, (10, 20, 5, 15)),
            },
        ],  # fmt: skip
    )


def results_url(study) -> str:
    return f"/ai/viewer/studies/{study.study_instance_uid}/results"


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_radiologist_of_the_site_reads_every_finding_heatmap_and_score_of_the_model(
    stored, suwon_study, suwon_radiologist
):
    response = logged_in(suwon_radiologist).get(results_url(suwon_study))
    assert response.status_code == 200
    body = response.json()
    assert body["study"] == suwon_study.study_instance_uid
    [entry] = body["models"]
    assert entry["model"] == {
        "id": stored.ai_model_id,
        "vendor": "Acme",
        "product": "LungNet",
        "version": "2.1",
        "name": "Acme LungNet 2.1",
        "colour": "#00c8ff",
        "threshold": 50,
        "reference": False,
        "clearance": "MFDS 2024-123",
    }
    assert (entry["case_score"], entry["case_above_threshold"], entry["triage_flag"]) == (87.5, True, False)
    assert entry["summary"] == "Two nodules"
    box, point, box3d, whole = entry["findings"]
    assert box["type"] == "nodule" and box["label"] == "Solid nodule 8 mm"
    assert (box["geometry_kind"], box["geometry"], box["sop_uid"], box["frame"]) == ("box", [10, 12, 30, 28], SOP, 1)
    assert box["above_threshold"] is True
    assert point["above_threshold"] is False and point["geometry"] == [40, 41]  # 20 under 50: dashed
    assert box3d["geometry"] == {"min": [5, 6, 2], "max": [15, 16, 4]} and box3d["series_uid"] == SERIES
    assert whole["geometry_kind"] == "none" and whole["above_threshold"] is True
    [heatmap] = entry["heatmaps"]
    assert (heatmap["sop_uid"], heatmap["frame"], heatmap["rows"], heatmap["columns"]) == (SOP, 1, 64, 48)
    assert heatmap["url"] == f"/ai/viewer/heatmaps/{heatmap['id']}.png"


def test_reading_the_results_is_audited_as_ai_results_viewed_like_the_verdict_panel(
    stored, suwon_study, suwon_radiologist
):
    logged_in(suwon_radiologist).get(results_url(suwon_study), REMOTE_ADDR="10.1.2.3")
    [event] = AuditEvent.objects.all()  # one row per fetch, of the AI results alone
    assert (event.action, event.user, event.study_uid, event.patient_ref) == (
        AuditAction.AI_RESULTS_VIEWED,
        suwon_radiologist,
        suwon_study.study_instance_uid,
        suwon_study.patient_id,
    )
    assert (event.source, event.detail, event.success) == ("10.1.2.3", {}, True)


def test_models_come_in_order_with_the_reference_engine_last_and_its_warning_flag(suwon_study, suwon_radiologist):
    reference = make_model(vendor="Readingws", product="Reference", version="1", is_reference=True)
    stroke = make_model(vendor="Brainco", product="StrokeNet", version="3", colour="#ff3030", threshold=40)
    store(suwon_study, reference, case_score=10.0)
    store(suwon_study, stroke, case_score=35.0, triage_flag=True)
    models = logged_in(suwon_radiologist).get(results_url(suwon_study)).json()["models"]
    assert [entry["model"]["name"] for entry in models] == ["Brainco StrokeNet 3", "Readingws Reference 1"]
    assert models[0]["triage_flag"] is True and models[0]["case_above_threshold"] is False
    assert models[1]["model"]["reference"] is True


def test_a_second_delivery_of_a_model_adds_its_findings_and_takes_over_the_case_score(
    stored, suwon_study, lung_model, suwon_radiologist
):
    store(
        suwon_study,
        lung_model,
        case_score=40.0,
        findings=[{"finding_type": "nodule", "score": 60.0, "geometry_kind": "point", "geometry": [1, 1],
                   "series_instance_uid": SERIES, "sop_instance_uid": SOP}],
    )  # fmt: skip
    [entry] = logged_in(suwon_radiologist).get(results_url(suwon_study)).json()["models"]
    assert len(entry["results"]) == 2 and len(entry["findings"]) == 5
    assert entry["case_score"] == 40.0 and entry["summary"] == "Two nodules"


def test_a_study_without_results_answers_an_empty_list(suwon_study, suwon_radiologist):
    assert logged_in(suwon_radiologist).get(results_url(suwon_study)).json()["models"] == []


def test_the_results_cost_a_fixed_number_of_queries_however_many_findings(
    django_assert_max_num_queries, stored, suwon_study, lung_model, suwon_radiologist
):
    for _ in range(5):
        store(suwon_study, lung_model, findings=[{"finding_type": "nodule", "geometry_kind": "none"}] * 20)
    client = logged_in(suwon_radiologist)
    # session (read, idle-time touch) and user, the study, the audit row with its chain head (lock,
    # insert, move), results, findings, heatmaps: none of them per finding
    with django_assert_max_num_queries(13):
        assert client.get(results_url(suwon_study)).status_code == 200


def test_a_radiologist_of_another_site_gets_403_and_the_attempt_is_audited(stored, suwon_study, icheon_radiologist):
    response = logged_in(icheon_radiologist).get(results_url(suwon_study))
    assert response.status_code == 403
    assert "error" in response.json()
    denial = AuditEvent.objects.get(action=AuditAction.ACCESS_DENIED)
    assert (denial.user, denial.study_uid, denial.success) == (
        icheon_radiologist,
        suwon_study.study_instance_uid,
        False,
    )
    assert not AuditEvent.objects.filter(action=AuditAction.AI_RESULTS_VIEWED).exists()


def test_another_sites_radiologist_cannot_fetch_a_heatmap_either(stored, icheon_radiologist):
    heatmap = stored.heatmaps.get()
    response = logged_in(icheon_radiologist).get(f"/ai/viewer/heatmaps/{heatmap.pk}.png")
    assert response.status_code == 403
    assert AuditEvent.objects.filter(action=AuditAction.ACCESS_DENIED, user=icheon_radiologist).exists()


def test_an_unknown_study_or_heatmap_is_404(suwon_radiologist):
    client = logged_in(suwon_radiologist)
    assert client.get("/ai/viewer/studies/1.2.3.4.5/results").status_code == 404
    assert client.get("/ai/viewer/heatmaps/999999.png").status_code == 404


def test_an_anonymous_visitor_gets_401_json_not_a_login_redirect(stored, suwon_study):
    response = Client().get(results_url(suwon_study))
    assert response.status_code == 401
    assert response.json() == {"error": "authentication required"}
    assert Client().get(f"/ai/viewer/heatmaps/{stored.heatmaps.get().pk}.png").status_code == 401


def test_an_ai_engine_token_cannot_read_results_through_the_viewer_api(stored, suwon_study, sites):
    engine_user = make_user("acme-engine", role="ai_engine", sites=[sites["SUWON"]])
    _, key = ApiToken.issue(user=engine_user, name="acme")
    response = Client().get(results_url(suwon_study), HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 403
    denial = AuditEvent.objects.get(action=AuditAction.ACCESS_DENIED)
    assert denial.user == engine_user and denial.detail["action"] == "view_ai_results"


def test_a_radiologists_bearer_token_reads_like_their_session(stored, suwon_study, suwon_radiologist):
    _, key = ApiToken.issue(user=suwon_radiologist, name="script")
    response = Client().get(results_url(suwon_study), HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 200 and len(response.json()["models"]) == 1
    assert Client().get(results_url(suwon_study), HTTP_AUTHORIZATION="Bearer wrong").status_code == 401


def test_a_data_steward_may_not_read_ai_results_in_the_viewer(stored, suwon_study, data_steward):
    response = logged_in(data_steward).get(results_url(suwon_study))
    assert response.status_code == 403
    assert response.json() == {"error": "you may not see the AI results of this study"}
    denial = AuditEvent.objects.get(action=AuditAction.ACCESS_DENIED)
    assert denial.user == data_steward and denial.detail["action"] == "view_ai_results"


def test_the_heatmap_is_the_stored_8_bit_png_cached_privately_with_an_etag(stored, suwon_radiologist):
    heatmap = stored.heatmaps.get()
    client = logged_in(suwon_radiologist)
    response = client.get(f"/ai/viewer/heatmaps/{heatmap.pk}.png")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["Cache-Control"] == "private, max-age=31536000, immutable"
    assert response.content == bytes(heatmap.png)
    picture = Image.open(io.BytesIO(response.content))
    assert (picture.mode, picture.size) == ("L", (48, 64))
    grey = np.asarray(picture)
    assert grey[15, 10] == 255 and grey[30, 30] == 0
    again = client.get(f"/ai/viewer/heatmaps/{heatmap.pk}.png", HTTP_IF_NONE_MATCH=response["ETag"])
    assert again.status_code == 304 and again.content == b""


def test_the_endpoints_answer_only_reads(stored, suwon_study, suwon_radiologist):
    assert logged_in(suwon_radiologist).post(results_url(suwon_study)).status_code in (403, 405)


def test_the_viewer_page_carries_the_ai_panel_with_its_urls(stored, suwon_study, suwon_radiologist):
    page = logged_in(suwon_radiologist).get(f"/reading/studies/{suwon_study.study_instance_uid}/")
    html = page.content.decode()
    assert 'id="ai-panel"' in html
    assert f'data-results-url="{results_url(suwon_study)}"' in html
    assert f'data-live-path="/ws/viewer/studies/{suwon_study.study_instance_uid}/ai/"' in html
    assert '"reference": "Reference engine, not for clinical use"' in html
    assert "<kbd>H</kbd>" in html
