"""The reading endpoints over HTTP, as the viewer uses them: the state as JSON, verdicts (200, 400,
403 without the claim or for another site, 409 stale with who changed it and the current state),
added findings, the report panel (a stale save keeps the user's text), signing, addenda and the
printable report, with an audit row for each and CSRF on every POST."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from accounts.models import AuditAction, AuditEvent
from reading.models import FindingDecision, ReaderFinding, Report, ReportStatus
from tests.conftest import make_user
from tests.reading.reading_setup import as_user, claimed_by, reading_case
from worklist.models import Study, StudyStatus

HTMX = {"HX-Request": "true"}


@pytest.fixture
def case(sites):
    return reading_case(sites["SUWON"])


@pytest.fixture
def reader(suwon_radiologist, case):
    claimed_by(suwon_radiologist, case)
    return suwon_radiologist


@pytest.fixture
def colleague(sites):
    return make_user("choi.suwon", sites=[sites["SUWON"]])


def url(name, case, *args):
    return reverse(f"reading:{name}", args=[case.uid, *args])


def post_json(client, path, body):
    return client.post(path, body, content_type="application/json")


def decide(client, case, index=0, **body):
    body = {"verdict": "accepted", "expected_revision": 0, **body}
    return post_json(client, url("decide", case, case.findings[index].pk), body)


def decide_all_over_http(client, case):
    for index in range(len(case.findings)):
        assert decide(client, case, index).status_code == 200


def report_form(version=0, impression="Solid nodule, Lung-RADS 4A.", **extra):
    return {
        "version": version,
        "s-lung_rads": "4A",
        "nodule-TOTAL_FORMS": "1",
        "nodule-INITIAL_FORMS": "0",
        "nodule-MIN_NUM_FORMS": "0",
        "nodule-MAX_NUM_FORMS": "30",
        "nodule-0-location": "RUL",
        "nodule-0-size_mm": "8.5",
        "nodule-0-nodule_type": "solid",
        "findings_text": "Findings text.",
        "impression": impression,
        **extra,
    }


def test_the_state_lists_every_ai_finding_with_its_model_and_verdict_and_is_audited(case, reader):
    response = as_user(reader).get(url("decisions", case), REMOTE_ADDR="10.0.0.9")
    assert response.status_code == 200
    state = response.json()
    assert (state["may_edit"], state["read_only_reason"], state["report_status"]) == (True, "", "draft")
    assert len(state["findings"]) == len(case.findings)
    first = state["findings"][0]
    assert (first["verdict"], first["revision"], first["history"], first["label"]) == (
        "undecided",
        0,
        [],
        "Solid nodule 8 mm",
    )
    assert first["model"] == {"vendor": "Acme", "product": "LungNet", "version": "2.1", "colour": "#ffb000",
                              "reference": False}  # fmt: skip
    assert first["urls"]["decision"] == url("decide", case, case.findings[0].pk)
    assert {"value": "artefact", "label": "False positive: artefact"} in state["rejection_reasons"]
    event = AuditEvent.objects.get(action=AuditAction.AI_RESULTS_VIEWED)
    assert (event.user, event.source, event.study_uid) == (reader, "10.0.0.9", case.uid)


def test_a_colleague_without_the_claim_sees_the_state_read_only_and_may_not_decide(case, reader, colleague):
    state = as_user(colleague).get(url("decisions", case)).json()
    assert state["may_edit"] is False and state["read_only_reason"] == "kim.suwon is reading this study."
    response = decide(as_user(colleague), case)
    assert response.status_code == 403 and response.json()["error"] == "not_your_claim"
    assert not FindingDecision.objects.exists()


def test_another_sites_radiologist_gets_403_and_a_security_alert(case, reader, icheon_radiologist):
    client = as_user(icheon_radiologist)
    assert client.get(url("decisions", case)).status_code == 403
    assert decide(client, case).status_code == 403
    assert client.get(url("report", case)).status_code == 403
    assert AuditEvent.objects.filter(action=AuditAction.ACCESS_DENIED, user=icheon_radiologist).count() == 3


def test_a_verdict_answers_the_new_state_with_its_history(case, reader):
    response = decide(as_user(reader), case, verdict="rejected", reason="artefact", note="Motion")
    assert response.status_code == 200
    state = response.json()
    assert (state["verdict"], state["revision"]) == ("rejected", 1)
    assert state["current"]["reason"] == "artefact" and state["current"]["decided_by"] == "kim.suwon"
    assert [step["verdict"] for step in state["history"]] == ["rejected"]


def test_an_invalid_verdict_is_400_naming_the_field(case, reader):
    client = as_user(reader)
    response = decide(client, case, verdict="rejected")
    assert response.status_code == 400 and response.json()["field"] == "reason"
    response = decide(client, case, 1, verdict="modified", geometry_kind="box", geometry=[0, 0, 40, 40])
    assert response.status_code == 400 and response.json()["field"] == "geometry"
    response = decide(client, case, expected_revision=None)
    assert response.status_code == 400 and response.json()["field"] == "expected_revision"


def test_a_stale_verdict_is_409_with_who_changed_it_and_the_current_state(case, reader):
    client = as_user(reader)
    assert decide(client, case).status_code == 200
    response = decide(client, case, verdict="rejected", reason="benign")
    assert response.status_code == 409
    body = response.json()
    assert (body["error"], body["changed_by"]) == ("stale", "kim.suwon")
    assert (body["finding"]["verdict"], body["finding"]["revision"]) == ("accepted", 1)


def test_undo_over_http_goes_back_to_undecided(case, reader):
    client = as_user(reader)
    decide(client, case)
    response = post_json(client, url("undo", case, case.findings[0].pk), {"expected_revision": 1})
    assert response.status_code == 200
    assert (response.json()["verdict"], response.json()["revision"]) == ("undecided", 2)


def test_a_finding_of_another_study_is_not_found(case, reader, sites):
    other = reading_case(sites["SUWON"])
    response = post_json(
        as_user(reader), url("decide", case, other.findings[0].pk), {"verdict": "accepted", "expected_revision": 0}
    )
    assert response.status_code == 404


def test_the_reader_adds_a_missed_finding_and_removes_it(case, reader):
    client = as_user(reader)
    body = {"type": "nodule", "label": "Missed 5 mm", "geometry_kind": "point", "geometry": {"point": [3, 3]},
            "sop_uid": case.ct.sop_uids[1]}  # fmt: skip
    response = post_json(client, url("add_reader_finding", case), body)
    assert response.status_code == 201
    added = response.json()
    assert (added["type"], added["geometry"], added["series_uid"]) == (
        "nodule",
        {"point": [3.0, 3.0]},
        case.ct.series_uid,
    )
    assert client.get(url("decisions", case)).json()["reader_findings"][0]["id"] == added["id"]
    assert client.post(added["urls"]["remove"]).status_code == 200
    assert client.get(url("decisions", case)).json()["reader_findings"] == []
    assert ReaderFinding.objects.get().removed_at is not None
    changes = AuditEvent.objects.filter(action=AuditAction.FINDING_ADDED).values_list("detail__change", flat=True)
    assert sorted(changes) == ["added", "removed"]


def test_a_missed_finding_outside_the_image_or_off_the_study_is_400(case, reader):
    client = as_user(reader)
    body = {"type": "nodule", "geometry_kind": "box", "geometry": [1, 1, 30, 3], "sop_uid": case.ct.sop_uids[0]}
    assert post_json(client, url("add_reader_finding", case), body).status_code == 400
    body = {"type": "nodule", "geometry_kind": "point", "geometry": [1, 1], "sop_uid": "1.2.3.4"}
    response = post_json(client, url("add_reader_finding", case), body)
    assert response.status_code == 400 and response.json()["field"] == "geometry.sop_instance_uid"


def test_the_report_panel_is_an_htmx_partial_with_the_lung_form_and_is_audited(case, reader):
    response = as_user(reader).get(url("report", case), headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 200 and html.lstrip().startswith('<section class="report-panel"')
    assert 'name="s-lung_rads"' in html and 'name="nodule-0-size_mm"' in html and 'name="impression"' in html
    assert "disabled" not in html
    assert AuditEvent.objects.filter(action=AuditAction.REPORT_VIEWED, study_uid=case.uid).count() == 1


def test_the_panel_is_read_only_for_a_colleague_without_the_claim(case, reader, colleague):
    html = as_user(colleague).get(url("report", case), headers=HTMX).content.decode()
    assert "<fieldset disabled>" in html and "kim.suwon is reading this study." in html
    assert as_user(colleague).post(url("report", case), report_form(), headers=HTMX).status_code == 403


def test_saving_the_report_answers_the_panel_at_the_new_version(case, reader):
    response = as_user(reader).post(url("report", case), report_form(), headers=HTMX)
    assert response.status_code == 200
    assert 'data-version="1"' in response.content.decode()
    report = Report.objects.get()
    assert report.structured == {
        "lung_rads": "4A",
        "nodules": [{"location": "RUL", "size_mm": 8.5, "nodule_type": "solid"}],
    }


def test_a_stale_save_is_409_with_the_newer_values_and_the_users_text_kept(case, reader):
    client = as_user(reader)
    client.post(url("report", case), report_form(impression="Saved in the other tab"), headers=HTMX)
    response = client.post(url("report", case), report_form(impression="My unsaved impression"), headers=HTMX)
    assert response.status_code == 409
    html = response.content.decode()
    assert "saved this report meanwhile" in html
    assert "Saved in the other tab</textarea>" in html  # the form now holds the saved version
    assert 'id="kept-impression" readonly rows="2">My unsaved impression</textarea>' in html
    assert 'name="version" value="1"' in html
    assert Report.objects.get().impression == "Saved in the other tab"


def test_signing_is_409_naming_the_undecided_findings(case, reader):
    client = as_user(reader)
    decide(client, case)
    response = client.post(url("sign_report", case), report_form(), headers=HTMX)
    assert response.status_code == 409
    assert "Decide every AI finding before signing" in response.content.decode()
    assert Study.objects.get(pk=case.study.pk).status == StudyStatus.IN_READING


def test_signing_reads_the_study_locks_decisions_and_allows_addenda(case, reader):
    client = as_user(reader)
    decide_all_over_http(client, case)
    response = client.post(url("sign_report", case), report_form(), headers=HTMX)
    assert response.status_code == 200 and "Signed. The study is read." in response.content.decode()
    study = Study.objects.get(pk=case.study.pk)
    assert (study.status, study.read_by) == (StudyStatus.READ, reader)
    assert Report.objects.get().status == ReportStatus.SIGNED
    response = post_json(client, url("undo", case, case.findings[0].pk), {"expected_revision": 1})
    assert response.status_code == 409 and response.json()["error"] == "signed"
    assert client.get(url("decisions", case)).json()["may_edit"] is False
    response = client.post(url("add_addendum", case), {"text": "Stable on the prior."}, headers=HTMX)
    assert response.status_code == 200 and "Stable on the prior." in response.content.decode()
    assert AuditEvent.objects.filter(action=AuditAction.REPORT_SIGNED, user=reader).count() == 1


def test_the_printable_report_shows_confirmed_findings_with_their_model_and_never_rejected_ones(case, reader):
    client = as_user(reader)
    decide(client, case, 0)  # "Solid nodule 8 mm", accepted
    decide(client, case, 1, verdict="modified", label="Part-solid nodule 12 mm")
    decide(client, case, 2, verdict="rejected", reason="artefact")  # type "mass"
    decide(client, case, 3, verdict="rejected", reason="artefact")
    decide(client, case, 4, verdict="rejected", reason="benign")  # "Mild emphysema"
    client.post(url("sign_report", case), report_form(), headers=HTMX)
    response = client.get(url("print_report", case))
    html = response.content.decode()
    assert response.status_code == 200 and "@page" not in html and "report-print.css" in html
    assert "Solid nodule 8 mm" in html and "Part-solid nodule 12 mm" in html
    assert html.count("Acme LungNet 2.1") == 2
    assert "Mild emphysema" not in html and "<td>mass</td>" not in html
    assert "Solid nodule, Lung-RADS 4A." in html and "Right upper lobe" in html and "Signed by kim.suwon" in html
    assert "DRAFT" not in html
    assert AuditEvent.objects.filter(action=AuditAction.REPORT_VIEWED, detail__printable=True).count() == 1


def test_the_printable_report_reads_in_korean(case, reader, settings):
    client = as_user(reader)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "ko"
    html = client.get(url("print_report", case)).content.decode()
    assert '<html lang="ko">' in html


def test_posts_without_the_csrf_token_are_refused(case, reader):
    client = Client(enforce_csrf_checks=True)
    client.force_login(reader)
    assert decide(client, case).status_code == 403
    assert client.post(url("report", case), report_form()).status_code == 403
    assert not FindingDecision.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_two_verdicts_from_the_same_revision_at_once_one_wins_one_is_told_it_is_stale(sites):
    """The reader's two workstations (two sessions) decide the same finding at the same moment,
    five findings in a row; on PostgreSQL this is the real race."""
    case = reading_case(sites["SUWON"])
    reader = make_user("kim.suwon", sites=[sites["SUWON"]])
    claimed_by(reader, case)
    clients = [as_user(reader), as_user(reader)]
    for index in range(len(case.findings)):
        start = threading.Barrier(2)

        def attempt(client, verdict, index=index, start=start):
            try:
                start.wait(timeout=30)
                body = {"verdict": verdict, "reason": "artefact", "expected_revision": 0}
                return post_json(client, url("decide", case, case.findings[index].pk), body)
            finally:
                connection.close()

        with ThreadPoolExecutor(2) as pool:
            responses = list(pool.map(attempt, clients, ["accepted", "rejected"]))
        assert sorted(response.status_code for response in responses) == [200, 409]
        winner = next(response for response in responses if response.status_code == 200).json()
        loser = next(response for response in responses if response.status_code == 409).json()
        assert loser["finding"]["verdict"] == winner["verdict"] and loser["changed_by"] == "kim.suwon"
        assert FindingDecision.objects.filter(finding=case.findings[index]).count() == 1
