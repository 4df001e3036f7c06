"""POST /ai/api/v1/results/ and its neighbours through HTTP: the contract's refusals naming the
field, idempotent repeats (RELIABILITY F7), the engine's scope and the token-only rule (S3, S4),
the body limit, and the OpenAPI schema."""

import base64
import io
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.test import Client
from PIL import Image

from accounts.models import ApiToken, AuditAction, AuditEvent
from ai_overlays.models import AIResult, Finding, Heatmap
from tests.ai_overlays.factories import ingest_ct, make_engine, make_model, model_ref, result_payload

RESULTS = "/ai/api/v1/results/"


@pytest.fixture
def model(db):
    return make_model()


@pytest.fixture
def ct(sites):
    return ingest_ct(sites["SUWON"], patient_name="Canary^Patient")


@pytest.fixture
def engine_and_key(sites, model):
    return make_engine(models=[model], sites=[sites["SUWON"]])


@pytest.fixture
def api(engine_and_key):
    return Client(headers={"Authorization": f"Bearer {engine_and_key[1]}"})


def post(client: Client, body, key: str | None = None, **extra):
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    headers = {"Idempotency-Key": key} if key is not None else {}
    return client.post(RESULTS, data=data, content_type="application/json", headers=headers, **extra)


@pytest.mark.django_db
def test_a_result_is_stored_and_answered_with_a_receipt(api, model, ct):
    response = post(api, result_payload(model, ct), key="res-1")
    assert response.status_code == 201
    result = AIResult.objects.get()
    assert response.json() == {
        "id": result.pk,
        "result_id": "res-1",
        "study_instance_uid": ct.study.study_instance_uid,
        "findings": 5,
        "heatmaps": 1,
    }


@pytest.mark.django_db
def test_the_stored_result_reads_back_for_its_engine_only(api, model, ct, sites):
    created = post(api, result_payload(model, ct)).json()
    back = api.get(f"{RESULTS}{created['id']}/").json()
    assert (back["model"], back["case_score"], len(back["findings"])) == (model_ref(model), 87.5, 5)
    other_engine, other_key = make_engine("other", models=[model], sites=[sites["SUWON"]])
    stranger = Client(headers={"Authorization": f"Bearer {other_key}"})
    assert stranger.get(f"{RESULTS}{created['id']}/").status_code == 404


@pytest.mark.django_db
def test_an_engine_lists_only_the_models_it_may_post_for(api, model):
    make_model("Beta", "NoduleScope", "1.0")
    response = api.get("/ai/api/v1/models/")
    assert [(entry["vendor"], entry["product"]) for entry in response.json()] == [("Acme", "LungNet")]


def _png(size: tuple[int, int], mode: str = "L") -> str:
    buffer = io.BytesIO()
    Image.new(mode, size).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def _break(payload: dict, ct, case: str) -> tuple[dict, str]:
    """The payload spoiled one way, and the field the refusal must name."""
    finding, heatmap = payload["findings"][0], payload["heatmaps"][0]
    if case == "missing model":
        del payload["model"]
        return payload, "model"
    if case == "unknown model":
        payload["model"]["version"] = "9.9"
        return payload, "model"
    if case == "score 101":
        finding["score"] = 101
        return payload, "findings[0].score"
    if case == "case score not a number":
        payload["case_score"] = "high"
        return payload, "case_score"
    if case == "point outside":
        finding["point"] = [ct.columns + 0.5, 2]
        return payload, "findings[0].point"
    if case == "box inverted":
        payload["findings"][1]["box"] = [6, 6, 1, 1]
        return payload, "findings[1].box"
    if case == "polygon of 2 points":
        payload["findings"][2]["polygon"] = [[1, 1], [2, 2]]
        return payload, "findings[2].polygon"
    if case == "two geometries":
        finding["box"] = [1, 1, 2, 2]
        return payload, "findings[0]"
    if case == "unknown sop uid":
        finding["sop_instance_uid"] = "1.2.3.999"
        return payload, "findings[0].sop_instance_uid"
    if case == "frame 2 of a single-frame image":
        finding["frame"] = 2
        return payload, "findings[0].frame"
    if case == "box3d slice past the series":
        payload["findings"][3]["box3d"]["max"][2] = len(ct.sop_uids)
        return payload, "findings[3].box3d.max"
    if case == "heatmap wrong size":
        heatmap.update(rows=ct.rows * 2)
        return payload, "heatmaps[0].rows"
    if case == "heatmap not png":
        heatmap.update(encoding="png", data=base64.b64encode(b"GIF89a" + bytes(40)).decode())
        return payload, "heatmaps[0].data"
    if case == "png of another size":
        heatmap.update(encoding="png", data=_png((ct.columns + 1, ct.rows)))
        return payload, "heatmaps[0].data"
    if case == "colour png":
        heatmap.update(encoding="png", data=_png((ct.columns, ct.rows), "RGB"))
        return payload, "heatmaps[0].data"
    if case == "raw wrong length":
        heatmap.update(data=base64.b64encode(bytes(ct.rows * ct.columns - 1)).decode())
        return payload, "heatmaps[0].data"
    if case == "two heatmaps on one frame":
        payload["heatmaps"].append(dict(heatmap))
        return payload, "heatmaps[1]"
    if case == "result id too long":
        payload["result_id"] = "r" * 129
        return payload, "result_id"
    raise AssertionError(case)


MALFORMED = [
    "missing model",
    "unknown model",
    "score 101",
    "case score not a number",
    "point outside",
    "box inverted",
    "polygon of 2 points",
    "two geometries",
    "unknown sop uid",
    "frame 2 of a single-frame image",
    "box3d slice past the series",
    "heatmap wrong size",
    "heatmap not png",
    "png of another size",
    "colour png",
    "raw wrong length",
    "two heatmaps on one frame",
    "result id too long",
]


@pytest.mark.django_db
@pytest.mark.parametrize("case", MALFORMED)
def test_a_malformed_result_is_a_400_naming_the_field(api, model, ct, case):
    payload, field = _break(result_payload(model, ct), ct, case)
    response = post(api, payload)
    assert response.status_code == 400, response.content
    assert response.json()["field"] == field
    assert not AIResult.objects.exists()


@pytest.mark.django_db
def test_an_inactive_model_is_refused(api, model, ct):
    model.is_active = False
    model.save()
    response = post(api, result_payload(model, ct))
    assert (response.status_code, response.json()["field"]) == (400, "model")


@pytest.mark.django_db
def test_an_instance_of_another_study_is_never_attached(api, model, ct, sites):
    other = ingest_ct(sites["SUWON"])
    payload = result_payload(model, ct)
    payload["findings"][0]["sop_instance_uid"] = other.sop_uids[0]
    response = post(api, payload)
    assert (response.status_code, response.json()["field"]) == (400, "findings[0].sop_instance_uid")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [("[1, 2]", "body"), ('{"result_id": ', "body"), ('{"case_score": NaN}', "body"), (b"\xff\xfe", "body")],
    ids=["json not an object", "invalid json", "nan", "not utf-8"],
)
def test_a_body_that_is_not_a_json_object_is_a_400(api, body, field):
    response = post(api, body)
    assert (response.status_code, response.json()["field"]) == (400, field)


@pytest.mark.django_db
def test_an_idempotency_key_other_than_the_result_id_is_a_400(api, model, ct):
    response = post(api, result_payload(model, ct), key="something-else")
    assert (response.status_code, response.json()["field"]) == (400, "Idempotency-Key")


@pytest.mark.django_db
def test_an_unknown_study_is_a_404(api, model, ct):
    response = post(api, result_payload(model, ct, study_instance_uid="1.2.3.4.5"))
    assert (response.status_code, response.json()["field"]) == (404, "study_instance_uid")


@pytest.mark.django_db
def test_a_repeat_gets_200_and_the_same_reply(api, model, ct):
    first = post(api, result_payload(model, ct))
    # Key order and spacing are not part of the body's identity.
    again = api.post(
        RESULTS, data=json.dumps(result_payload(model, ct), sort_keys=True, indent=2), content_type="application/json"
    )
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert AIResult.objects.count() == 1


@pytest.mark.django_db
def test_the_same_result_id_with_another_body_is_a_422(api, model, ct):
    post(api, result_payload(model, ct))
    response = post(api, result_payload(model, ct, summary="changed my mind"))
    assert (response.status_code, response.json()["field"]) == (422, "result_id")
    assert AIResult.objects.get().summary == "Two nodules"


@pytest.mark.django_db(transaction=True)
def test_five_identical_posts_at_once_store_one_result_and_get_equal_replies(api, model, ct):
    body = json.dumps(result_payload(model, ct))
    start = threading.Barrier(5)

    def deliver(_):
        try:
            start.wait()
            response = post(api, body, key="res-1")
            return response.status_code, response.json()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=5) as pool:
        replies = list(pool.map(deliver, range(5)))
    assert sorted(code for code, _ in replies) == [200, 200, 200, 200, 201]
    assert all(reply == replies[0][1] for _, reply in replies)
    assert (AIResult.objects.count(), Finding.objects.count(), Heatmap.objects.count()) == (1, 5, 1)


@pytest.mark.django_db
def test_a_model_outside_the_engines_scope_is_a_403(api, ct):
    other = make_model("Beta", "NoduleScope", "1.0")
    assert post(api, result_payload(other, ct)).status_code == 403
    assert AuditEvent.objects.filter(action=AuditAction.ACCESS_DENIED).exists()


@pytest.mark.django_db
def test_another_sites_study_is_a_403_and_an_audit_row(api, model, sites, engine_and_key):
    icheon = ingest_ct(sites["ICHEON"])
    response = post(api, result_payload(model, icheon), REMOTE_ADDR="10.9.8.7")
    assert response.status_code == 403
    denial = AuditEvent.objects.get(action=AuditAction.ACCESS_DENIED)
    assert (denial.user, denial.study_uid, denial.success, denial.source) == (
        engine_and_key[0].user,
        icheon.study.study_instance_uid,
        False,
        "10.9.8.7",
    )
    assert not AIResult.objects.exists()


@pytest.mark.django_db
def test_a_revoked_token_is_a_401(api, model, ct, engine_and_key):
    ApiToken.objects.filter(user=engine_and_key[0].user).update(revoked_at="2026-01-01T00:00:00Z")
    assert post(api, result_payload(model, ct)).status_code == 401


@pytest.mark.django_db
def test_no_token_is_a_401_with_the_bearer_challenge(client, model, ct):
    response = post(client, result_payload(model, ct))
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"


@pytest.mark.django_db
def test_a_radiologists_session_cookie_does_not_authenticate(client, suwon_radiologist, model, ct):
    client.force_login(suwon_radiologist)
    assert post(client, result_payload(model, ct)).status_code == 401
    assert client.get("/ai/api/v1/models/").status_code == 401


@pytest.mark.django_db
def test_a_radiologists_token_is_a_403(suwon_radiologist, model, ct):
    _, key = ApiToken.issue(user=suwon_radiologist, name="script")
    response = post(Client(headers={"Authorization": f"Bearer {key}"}), result_payload(model, ct))
    assert response.status_code == 403
    assert AuditEvent.objects.filter(action=AuditAction.ACCESS_DENIED, user=suwon_radiologist).exists()


@pytest.mark.django_db
def test_a_body_over_the_limit_is_a_413_and_a_big_one_under_it_is_read(api, model, ct, settings):
    settings.AI_MAX_RESULT_BYTES = 4 << 20
    big = result_payload(model, ct, summary="x" * 9_000)
    big["findings"] += [{"type": "n" * 40, "label": "y" * 200} for _ in range(9_900)]  # about 2.8 MB
    assert len(json.dumps(big)) > 2_621_440  # DATA_UPLOAD_MAX_MEMORY_SIZE would refuse it
    assert post(api, big).status_code == 201
    settings.AI_MAX_RESULT_BYTES = 1 << 20
    response = post(api, result_payload(model, ct, result_id="res-2", summary="z" * 9_000) | {"pad": "p" * (1 << 20)})
    assert (response.status_code, response.json()["field"]) == (413, "body")


@pytest.mark.django_db
def test_the_worklist_row_changes_after_a_result(api, model, ct, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        post(api, result_payload(model, ct, case_score=97, triage_flag=True))
    ct.study.refresh_from_db()
    assert (ct.study.ai_status, ct.study.ai_urgent, ct.study.ai_score, ct.study.priority) == ("ready", True, 97, 0)
    assert ct.study.ai_summary[0]["state"] == "ready"


@pytest.mark.django_db
def test_no_patient_name_reaches_the_logs(api, model, ct, caplog):
    caplog.set_level("DEBUG")
    post(api, result_payload(model, ct))
    post(api, result_payload(model, ct, summary="other"))
    assert "Canary" not in caplog.text and "CANARY" not in caplog.text


@pytest.mark.django_db
def test_the_schema_documents_the_results_path_and_its_bearer_auth(client, admin_user):
    client.force_login(admin_user)
    response = client.get("/api/schema/", headers={"Accept": "application/vnd.oai.openapi+json"})
    schema = json.loads(response.content)
    operation = schema["paths"]["/ai/api/v1/results/"]["post"]
    assert operation["security"] == [{"bearerToken": []}]
    assert schema["components"]["securitySchemes"]["bearerToken"] == {"type": "http", "scheme": "bearer"}
    body = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert {"result_id", "model", "study_instance_uid", "findings", "heatmaps"} <= set(
        schema["components"]["schemas"][body]["properties"]
    )
    assert {"201", "200", "400", "403", "404", "413", "422"} <= set(operation["responses"])


@pytest.mark.django_db
def test_the_admin_lists_results_with_their_counts_and_no_patient_name(client, api, model, ct):
    from accounts.models import User

    created = post(api, result_payload(model, ct)).json()
    client.force_login(User.objects.create_superuser("root", password="pw-for-tests-1", role="admin"))
    for url in ("/admin/ai_overlays/aimodel/", "/admin/ai_overlays/aiengine/", "/admin/ai_overlays/aijob/"):
        assert client.get(url).status_code == 200
    listing = client.get("/admin/ai_overlays/airesult/").content.decode()
    assert "res-1" in listing and "Canary" not in listing
    page = client.get(f"/admin/ai_overlays/airesult/{created['id']}/change/").content.decode()
    assert "Solid nodule 8 mm" in page and ct.study.study_instance_uid in page and "Canary" not in page
