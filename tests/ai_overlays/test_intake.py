"""store_result, the one entry point of every AI producer: what a valid result leaves in the
database, the worklist columns it changes, idempotency, and the engine's scope."""

import base64
import copy
import io
import logging

import pytest
from PIL import Image

from ai_overlays import intake
from ai_overlays.intake import ResultConflict, ResultForbidden, ResultInvalid, StudyNotFound, store_result
from ai_overlays.models import AIJob, AIResult, Finding, GeometryKind, Heatmap, JobStatus
from tests.ai_overlays.factories import ingest_ct, make_engine, make_model, result_payload
from worklist.models import AiStatus, StudyStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def model(db):
    return make_model()


@pytest.fixture
def ct(sites):
    return ingest_ct(sites["SUWON"], patient_name="Canary^Patient")


@pytest.fixture
def engine(sites, model):
    return make_engine(models=[model], sites=[sites["SUWON"]])[0]


def test_a_valid_result_is_stored_with_its_findings_and_heatmaps(model, ct, engine, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        outcome = store_result(payload=result_payload(model, ct), engine=engine)
    assert outcome.created
    result = AIResult.objects.get()
    assert (result.study, result.engine, result.case_score, result.source) == (ct.study, engine, 87.5, "api")
    kinds = list(Finding.objects.values_list("geometry_kind", flat=True))
    assert kinds == ["point", "box", "polygon", "box3d", "none"]
    assert Finding.objects.get(geometry_kind=GeometryKind.BOX).geometry == {"box": [1, 1, 6.5, 7]}
    box3d = Finding.objects.get(geometry_kind=GeometryKind.BOX_3D)
    assert (box3d.series_instance_uid, box3d.sop_instance_uid) == (ct.series_uid, "")
    heatmap = Heatmap.objects.get()
    with Image.open(io.BytesIO(heatmap.png)) as image:
        assert (image.mode, image.size) == ("L", (ct.columns, ct.rows))
        assert set(image.tobytes()) == {128}


def test_a_png_heatmap_is_kept_byte_for_byte(model, ct, engine):
    buffer = io.BytesIO()
    Image.new("L", (ct.columns, ct.rows), 200).save(buffer, format="PNG", compress_level=9)
    payload = result_payload(model, ct)
    payload["heatmaps"][0].update(encoding="png", data=base64.b64encode(buffer.getvalue()).decode())
    store_result(payload=payload, engine=engine)
    assert bytes(Heatmap.objects.get().png) == buffer.getvalue()


def test_the_worklist_row_shows_the_score_and_urgency_after_the_commit(
    model, ct, engine, django_capture_on_commit_callbacks
):
    AIJob.objects.create(study=ct.study, engine=engine, status=JobStatus.SENT)
    with django_capture_on_commit_callbacks(execute=True):
        store_result(payload=result_payload(model, ct, case_score=91.6, triage_flag=True), engine=engine)
    ct.study.refresh_from_db()
    assert ct.study.ai_summary == [
        {
            "model": "LungNet",
            "vendor": "Acme",
            "version": "2.1",
            "score": 92,
            "urgent": True,
            "state": "ready",
            "reference": False,
        }
    ]
    assert (ct.study.ai_status, ct.study.status, ct.study.ai_urgent, ct.study.ai_score, ct.study.priority) == (
        AiStatus.READY,
        StudyStatus.AI_READY,
        True,
        92,
        0,
    )
    assert AIJob.objects.get().status == JobStatus.DONE


def test_a_model_still_waiting_for_its_engine_shows_as_pending(sites, ct, engine, django_capture_on_commit_callbacks):
    other = make_model("Beta", "NoduleScope", "1.0")
    other_engine, _ = make_engine("beta-engine", models=[other], sites=[sites["SUWON"]])
    AIJob.objects.create(study=ct.study, engine=other_engine, status=JobStatus.SENT)
    with django_capture_on_commit_callbacks(execute=True):
        store_result(payload=result_payload(engine.ai_models.get(), ct), engine=engine)
    ct.study.refresh_from_db()
    assert [(entry["vendor"], entry["state"]) for entry in ct.study.ai_summary] == [
        ("Acme", "ready"),
        ("Beta", "pending"),
    ]
    assert ct.study.ai_status == AiStatus.READY


def test_the_same_result_twice_is_stored_once_and_returned(model, ct, engine):
    first = store_result(payload=result_payload(model, ct), engine=engine)
    again = store_result(payload=copy.deepcopy(result_payload(model, ct)), engine=engine)
    assert (again.created, again.result.pk) == (False, first.result.pk)
    assert (AIResult.objects.count(), Finding.objects.count(), Heatmap.objects.count()) == (1, 5, 1)


def test_the_same_result_id_with_another_body_is_a_conflict(model, ct, engine):
    store_result(payload=result_payload(model, ct), engine=engine)
    with pytest.raises(ResultConflict):
        store_result(payload=result_payload(model, ct, case_score=12), engine=engine)
    assert AIResult.objects.get().case_score == 87.5


@pytest.mark.parametrize(("summary", "conflict"), [("Two nodules", False), ("another body", True)])
def test_a_delivery_that_loses_the_insert_race_gets_the_winners_row(model, ct, engine, monkeypatch, summary, conflict):
    # The winner commits between the loser's first look (nothing there) and its insert.
    encode = intake._encode_heatmaps
    raced: list = []

    def winner_first(heatmaps):
        if not raced:
            raced.append(None)  # the winner's own call encodes straight away
            raced[0] = store_result(payload=result_payload(model, ct), engine=engine)
        return encode(heatmaps)

    monkeypatch.setattr(intake, "_encode_heatmaps", winner_first)
    if conflict:
        with pytest.raises(ResultConflict):
            store_result(payload=result_payload(model, ct, summary=summary), engine=engine)
    else:
        outcome = store_result(payload=result_payload(model, ct, summary=summary), engine=engine)
        assert (outcome.created, outcome.result.pk) == (False, raced[0].result.pk)
    assert (AIResult.objects.count(), Finding.objects.count()) == (1, 5)


def test_an_engine_may_not_post_for_a_model_outside_its_scope(sites, ct, engine):
    other = make_model("Beta", "NoduleScope", "1.0")
    with pytest.raises(ResultForbidden):
        store_result(payload=result_payload(other, ct), engine=engine)
    assert not AIResult.objects.exists()


def test_an_engine_may_not_post_for_another_sites_study(sites, model, engine):
    icheon_ct = ingest_ct(sites["ICHEON"])
    with pytest.raises(ResultForbidden):
        store_result(payload=result_payload(model, icheon_ct), engine=engine)


def test_a_producer_without_engine_skips_the_scope_check(sites, model):
    icheon_ct = ingest_ct(sites["ICHEON"])
    assert store_result(payload=result_payload(model, icheon_ct), engine=None, source="dicom_seg").created


def test_an_unknown_study_is_a_not_found_naming_the_field(model, ct, engine):
    with pytest.raises(StudyNotFound) as refusal:
        store_result(payload=result_payload(model, ct, study_instance_uid="1.2.3.4"), engine=engine)
    assert isinstance(refusal.value, ResultInvalid)
    assert refusal.value.field == "study_instance_uid"


def test_an_invalid_result_leaves_nothing_behind(model, ct, engine):
    payload = result_payload(model, ct)
    payload["findings"][4]["score"] = 101
    with pytest.raises(ResultInvalid) as refusal:
        store_result(payload=payload, engine=engine)
    assert refusal.value.field == "findings[4].score"
    assert not AIResult.objects.exists() and not Finding.objects.exists()


def test_a_multi_frame_series_is_sliced_by_frames(sites, model, engine):
    ct = ingest_ct(sites["SUWON"], slices=1)
    payload = result_payload(model, ct)
    payload["findings"][3]["box3d"] = {"min": [0, 0, 0], "max": [1, 1, 1]}
    with pytest.raises(ResultInvalid) as refusal:
        store_result(payload=payload, engine=engine)
    assert refusal.value.field == "findings[3].box3d.max"


def test_no_patient_name_reaches_the_logs(model, ct, engine, caplog, django_capture_on_commit_callbacks):
    caplog.set_level(logging.DEBUG)
    with django_capture_on_commit_callbacks(execute=True):
        store_result(payload=result_payload(model, ct), engine=engine)
    assert "stored" in caplog.text
    assert "Canary" not in caplog.text and "P-0001" not in caplog.text


def test_a_raw_heatmap_is_stored_as_a_png_of_the_same_values(model, ct, engine):
    values = bytes((row * 7 + column * 13) % 256 for row in range(ct.rows) for column in range(ct.columns))
    payload = result_payload(model, ct)
    payload["heatmaps"][0]["data"] = base64.b64encode(values).decode()
    store_result(payload=payload, engine=engine)
    with Image.open(io.BytesIO(Heatmap.objects.get().png)) as image:
        assert (image.mode, image.size, image.tobytes()) == ("L", (ct.columns, ct.rows), values)
