"""The audit trail is tamper-evident and searchable: every row carries the hash of the one before,
the database refuses UPDATE and DELETE (ORM and raw SQL alike), an edit made behind the triggers'
back is named by verify_audit_chain, concurrent writers never fork the chain, and the audit page
filters, exports CSV, shows patient names to admins only and is itself audited (110101). The
coverage test walks each PHI action and asserts exactly the audit rows it leaves."""

import csv
import io
import threading
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from accounts import audit
from accounts.audit_verify import verify_chain
from accounts.models import ATNA_EVENT_CODES, AuditAction, AuditChainHead, AuditEvent
from tests.conftest import make_user
from tests.reading.reading_setup import as_user, claimed_by, reading_case
from worklist.models import Patient

UNGUARD = {
    # Deferred foreign-key checks count as pending trigger events, which ALTER TABLE refuses.
    "postgresql": [
        "SET CONSTRAINTS ALL IMMEDIATE",
        "ALTER TABLE accounts_auditevent DISABLE TRIGGER accounts_auditevent_append_only",
    ],
    "sqlite": ["DROP TRIGGER accounts_auditevent_no_update", "DROP TRIGGER accounts_auditevent_no_delete"],
}


def write_events(count: int, *, user=None, prefix: str = "event") -> list[AuditEvent]:
    return [
        audit.record(action=AuditAction.STUDY_VIEWED, user=user, source="10.0.0.1", study_uid=f"1.2.3.{index}",
                     detail={"n": index, "label": f"{prefix} {index}", "nested": {"b": [1, 2.5], "a": "한글"}})
        for index in range(count)
    ]  # fmt: skip


def as_dba(statements: list[tuple[str, list]]) -> None:
    """Run SQL with the append-only triggers off, the way a database owner could, then put them back."""
    from importlib import import_module

    migration = import_module("accounts.migrations.0005_audit_hash_chain_and_append_only_triggers")
    with connection.cursor() as cursor:
        for statement in UNGUARD[connection.vendor]:
            cursor.execute(statement)
        for statement, params in statements:
            cursor.execute(statement, params)
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE accounts_auditevent ENABLE TRIGGER accounts_auditevent_append_only")
        else:
            for statement in migration.SQLITE_GUARD:
                cursor.execute(statement)


# --- the chain ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_every_audited_action_has_its_atna_event_code():
    assert set(ATNA_EVENT_CODES) == set(AuditAction.values)
    assert all(code.isdigit() and 110100 <= int(code) <= 110199 for code in ATNA_EVENT_CODES.values())
    event = audit.record(action=AuditAction.LOGIN_FAILED, success=False)
    assert event.atna_code == "110114"


@pytest.mark.django_db
def test_each_row_carries_the_hash_of_the_row_before_and_the_chain_verifies(suwon_radiologist):
    events = write_events(150, user=suwon_radiologist)
    stored = list(AuditEvent.objects.order_by("id"))
    assert stored[0].prev_hash == ""
    assert all(row.prev_hash == before.row_hash for before, row in zip(stored, stored[1:], strict=False))
    assert len({row.row_hash for row in stored}) == 150
    report = verify_chain(chunk_size=40)
    assert (report.intact, report.checked, report.guarded) == (True, 150, True)
    assert AuditChainHead.objects.get().last_event_id == events[-1].pk
    out = io.StringIO()
    call_command("verify_audit_chain", stdout=out)
    assert "Audit chain intact: 150 rows." in out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_never_fork_the_chain():
    workers, each = 8, 25
    start = threading.Barrier(workers)
    failures = []

    def writer(number: int) -> None:
        try:
            start.wait()
            for index in range(each):
                # Some inside a longer transaction, the way an action audits itself.
                with transaction.atomic():
                    audit.record(action=AuditAction.STUDY_LIST_VIEWED, source=f"10.0.{number}.{index}")
        except Exception as error:  # noqa: BLE001  (reported below, on the test's thread)
            failures.append(repr(error))
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(number,)) for number in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert AuditEvent.objects.count() == workers * each
    prev_hashes = list(AuditEvent.objects.values_list("prev_hash", flat=True))
    assert len(set(prev_hashes)) == len(prev_hashes), "two rows claim the same predecessor: the chain forked"
    report = verify_chain()
    assert (report.intact, report.checked) == (True, workers * each)


# --- append-only -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_update_or_delete_through_the_orm_is_refused_by_the_database():
    event = audit.record(action=AuditAction.LOGIN, source="10.0.0.1")
    attempts = [
        lambda: AuditEvent.objects.filter(pk=event.pk).update(username="someone else"),
        lambda: AuditEvent.objects.filter(pk=event.pk).delete(),
        lambda: AuditEvent.objects.all().delete(),
        lambda: AuditEvent.objects.filter(pk=event.pk).update(success=False, row_hash=""),
    ]
    for attempt in attempts:
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            attempt()
    event.source = "10.6.6.6"
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        event.save()
    assert AuditEvent.objects.get().source == "10.0.0.1"


@pytest.mark.django_db
def test_an_update_or_delete_in_raw_sql_is_refused_by_the_database():
    event = audit.record(action=AuditAction.LOGIN, source="10.0.0.1")
    for statement, params in (
        ("UPDATE accounts_auditevent SET source = '10.6.6.6' WHERE id = %s", [event.pk]),
        ("DELETE FROM accounts_auditevent WHERE id = %s", [event.pk]),
        ("DELETE FROM accounts_auditevent", []),
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, params)
    assert AuditEvent.objects.values_list("source", flat=True).get() == "10.0.0.1"


@pytest.mark.django_db
def test_a_row_edited_behind_the_triggers_back_is_named_by_verify_audit_chain():
    events = write_events(10)
    as_dba([("UPDATE accounts_auditevent SET study_uid = '9.9.9' WHERE id = %s", [events[4].pk])])
    with pytest.raises(CommandError, match=rf"broken at row {events[4].pk}: content does not match its hash"):
        call_command("verify_audit_chain")


@pytest.mark.django_db
def test_a_row_edited_and_rehashed_is_named_at_the_row_after_it():
    events = write_events(10)
    forged = AuditEvent.objects.get(pk=events[4].pk)
    forged.study_uid = "9.9.9"
    from accounts.audit_chain import hash_of

    forge = "UPDATE accounts_auditevent SET study_uid = '9.9.9', row_hash = %s WHERE id = %s"
    as_dba([(forge, [hash_of(forged), forged.pk])])
    report = verify_chain()
    assert report.first_break.event_id == events[5].pk
    assert report.first_break.reason == f"does not follow row {events[4].pk}"


@pytest.mark.django_db
def test_rows_deleted_from_the_middle_or_the_end_are_detected():
    events = write_events(6)
    as_dba([("DELETE FROM accounts_auditevent WHERE id = %s", [events[2].pk])])
    assert verify_chain().first_break.event_id == events[3].pk
    as_dba([("DELETE FROM accounts_auditevent WHERE id >= %s", [events[2].pk])])
    report = verify_chain()
    assert report.first_break.event_id == events[1].pk
    assert f"head names row {events[5].pk}" in report.first_break.reason


@pytest.mark.django_db
def test_verify_warns_when_the_append_only_triggers_are_gone():
    write_events(2)
    with connection.cursor() as cursor:
        for statement in UNGUARD[connection.vendor]:
            cursor.execute(statement)
    err = io.StringIO()
    call_command("verify_audit_chain", stdout=io.StringIO(), stderr=err)
    assert "triggers on the audit table are missing or disabled" in err.getvalue()


# --- the audit page ----------------------------------------------------------------------------


@pytest.fixture
def department_head(sites):
    return make_user("head", role="department_head", all_sites=True)


@pytest.fixture
def trail(sites, suwon_radiologist, icheon_radiologist):
    """A small trail: two readers, a failure, a named patient, an older day."""
    patient = Patient.objects.create(site=sites["SUWON"], patient_id="P-7001", name="HONG^GILDONG")
    opened = audit.record(action=AuditAction.STUDY_VIEWED, user=suwon_radiologist, source="10.1.1.1",
                          study_uid="1.2.840.1", patient_ref=patient.pk)  # fmt: skip
    denied = audit.record(action=AuditAction.ACCESS_DENIED, user=icheon_radiologist, source="10.2.2.2",
                          study_uid="1.2.840.1", patient_ref=patient.pk, success=False)  # fmt: skip
    listed = audit.record(action=AuditAction.STUDY_LIST_VIEWED, user=icheon_radiologist, source="10.2.2.2")
    return {"patient": patient, "opened": opened, "denied": denied, "listed": listed}


def shown_ids(response) -> list[int]:
    import re

    return [int(value) for value in re.findall(r'data-event-id="(\d+)"', response.content.decode())]


def test_admin_filters_the_trail_by_user_action_outcome_study_and_patient(admin_user, trail):
    client = as_user(admin_user)
    page = reverse("worklist:audit")
    opened, denied, listed = trail["opened"].pk, trail["denied"].pk, trail["listed"].pk
    assert set(shown_ids(client.get(page))) >= {opened, denied, listed}
    assert shown_ids(client.get(page, {"user": "lee.icheon"})) == [listed, denied]
    assert shown_ids(client.get(page, {"action": "access_denied"})) == [denied]
    assert shown_ids(client.get(page, {"outcome": "failure", "study_uid": "1.2.840.1"})) == [denied]
    assert shown_ids(client.get(page, {"patient": "gildong"})) == [denied, opened]
    assert shown_ids(client.get(page, {"patient": "P-7001", "user": "kim"})) == [opened]


def test_the_date_range_is_in_local_days_with_the_end_day_included(admin_user, trail):
    client = as_user(admin_user)
    today = timezone.localdate()
    page = reverse("worklist:audit")
    assert trail["opened"].pk in shown_ids(client.get(page, {"date_from": today, "date_to": today}))
    assert shown_ids(client.get(page, {"date_to": today - timedelta(days=1), "action": "study_viewed"})) == []
    response = client.get(page, {"date_from": today, "date_to": today - timedelta(days=1)})
    assert "The end date is before the start date." in response.content.decode() and shown_ids(response) == []


def test_admins_see_patient_names_and_department_heads_see_row_numbers_only(admin_user, department_head, trail):
    patient = trail["patient"]
    admin_page = as_user(admin_user).get(reverse("worklist:audit")).content.decode()
    assert "HONG GILDONG (P-7001)" in admin_page
    response = as_user(department_head).get(reverse("worklist:audit"))
    html = response.content.decode()
    assert response.status_code == 200
    assert f"#{patient.pk}" in html and "GILDONG" not in html and "P-7001" not in html
    # A name search finds nothing for them: it would otherwise say who the row belongs to.
    assert shown_ids(as_user(department_head).get(reverse("worklist:audit"), {"patient": "gildong"})) == []
    assert shown_ids(as_user(department_head).get(reverse("worklist:audit"), {"patient": str(patient.pk)})) == [
        trail["denied"].pk,
        trail["opened"].pk,
    ]


def test_radiologists_and_stewards_may_not_read_the_trail_and_the_refusal_is_audited(
    suwon_radiologist, data_steward, trail
):
    for user in (suwon_radiologist, data_steward):
        client = as_user(user)
        assert client.get(reverse("worklist:audit")).status_code == 403
        assert client.get(reverse("worklist:audit_export")).status_code == 403
    refusals = AuditEvent.objects.filter(action=AuditAction.ACCESS_DENIED, detail__action="view_audit")
    assert refusals.count() == 4


def test_the_csv_export_follows_the_filters_and_names_patients_for_admins_only(admin_user, department_head, trail):
    def export(user):
        response = as_user(user).get(reverse("worklist:audit_export"), {"study_uid": "1.2.840.1"})
        assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
        assert response["Content-Disposition"].startswith('attachment; filename="audit-')
        return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))

    rows = export(admin_user)
    assert [int(row["id"]) for row in rows] == [trail["denied"].pk, trail["opened"].pk]
    denied = rows[0]
    assert (denied["user"], denied["action"], denied["atna_code"], denied["outcome"], denied["source"]) == (
        "lee.icheon",
        "access_denied",
        "110113",
        "failure",
        "10.2.2.2",
    )
    assert (denied["patient_id"], denied["patient_name"]) == ("P-7001", "HONG GILDONG")
    assert denied["row_hash"] == trail["denied"].row_hash
    rows = export(department_head)
    assert "patient_name" not in rows[0] and rows[0]["patient_ref"] == str(trail["patient"].pk)


def test_a_formula_in_the_export_is_kept_as_text(admin_user, sites):
    audit.record(action=AuditAction.LOGIN_FAILED, source='=HYPERLINK("http://x")', success=False)
    response = as_user(admin_user).get(reverse("worklist:audit_export"), {"action": "login_failed"})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[1][6] == '\'=HYPERLINK("http://x")'


def test_reading_and_exporting_the_trail_is_itself_audited_without_the_patient_text(admin_user, trail):
    client = as_user(admin_user)
    client.get(reverse("worklist:audit"), {"patient": "gildong", "action": "study_viewed"}, REMOTE_ADDR="10.9.9.9")
    client.get(reverse("worklist:audit_export"), {"outcome": "failure"}, REMOTE_ADDR="10.9.9.9")
    uses = list(AuditEvent.objects.filter(action=AuditAction.AUDIT_LOG_VIEWED).order_by("id"))
    assert [(use.user, use.source, use.atna_code, use.success) for use in uses] == [
        (admin_user, "10.9.9.9", "110101", True)
    ] * 2
    assert uses[0].detail == {"filters": {"action": "study_viewed"}, "patient_filter": True, "export": "",
                              "shown": 1}  # fmt: skip
    assert uses[0].patient_ref == trail["patient"].pk
    assert uses[1].detail == {"filters": {"outcome": "failure"}, "patient_filter": False, "export": "csv"}
    assert "gildong" not in str(uses[0].detail).lower()


def test_older_events_page_by_id_without_counting_the_table(admin_user, sites):
    write_events(130)
    client = as_user(admin_user)
    first = client.get(reverse("worklist:audit"), {"action": "study_viewed"})
    assert len(shown_ids(first)) == 100
    before = min(shown_ids(first))
    assert f"before={before}" in first.content.decode()
    second = shown_ids(client.get(reverse("worklist:audit"), {"action": "study_viewed", "before": before}))
    assert len(second) == 30 and max(second) < before


# --- coverage (RELIABILITY S7): each PHI action leaves exactly its audit rows -------------------

ADDRESS = "10.20.30.40"


def rows_since(last_id: int) -> list[tuple]:
    return [
        (event.action, event.username, event.source, event.study_uid, event.patient_ref, event.success, event.atna_code)
        for event in AuditEvent.objects.filter(id__gt=last_id).order_by("id")
    ]


def last_id() -> int:
    return AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


def test_each_phi_action_leaves_exactly_its_audit_rows(client, sites, suwon_radiologist):
    case = reading_case(sites["SUWON"])
    claimed_by(suwon_radiologist, case)
    uid, patient, reader = case.uid, case.study.patient_id, suwon_radiologist.username

    def step(method, path, data=None, **extra) -> list[tuple]:
        mark = last_id()
        before = timezone.now()
        response = getattr(client, method)(path, data, REMOTE_ADDR=ADDRESS, **extra)
        assert response.status_code < 400, (path, response.status_code)
        rows = AuditEvent.objects.filter(id__gt=mark)
        assert all(before <= event.at <= timezone.now() for event in rows)
        return rows_since(mark)

    login = reverse("accounts:login")
    assert step("post", login, {"username": reader, "password": "wrong"}) == [
        ("login_failed", "", ADDRESS, "", None, False, "110114")
    ]
    assert step("post", login, {"username": reader, "password": "pw-for-tests-1"}) == [
        ("login", reader, ADDRESS, "", None, True, "110114")
    ]
    assert step("get", reverse("worklist:home")) == [("study_list_viewed", reader, ADDRESS, "", None, True, "110112")]
    opened = ("study_viewed", reader, ADDRESS, uid, patient, True, "110103")
    assert step("get", reverse("reading:viewer", args=[uid])) == []  # the page is a shell; the manifest opens
    assert step("get", reverse("reading:manifest", args=[uid])) == [opened]
    # Frames follow the manifest's open and are not audited one by one.
    assert step("get", reverse("reading:series_frames", args=[case.ct.series_uid])) == []
    # The overlays' endpoint and the verdict panel's state are both a view of the AI results.
    ai_results_viewed = ("ai_results_viewed", reader, ADDRESS, uid, patient, True, "110103")
    assert step("get", reverse("ai_overlays:viewer_results", args=[uid])) == [ai_results_viewed]
    assert step("get", reverse("reading:decisions", args=[uid])) == [ai_results_viewed]
    decided = ("finding_decided", reader, ADDRESS, uid, patient, True, "110110")
    for finding in case.findings:
        body = {"verdict": "accepted", "expected_revision": 0}
        path = reverse("reading:decide", args=[uid, finding.pk])
        assert step("post", path, body, content_type="application/json") == [decided]
    assert step("get", reverse("reading:report", args=[uid]), headers={"HX-Request": "true"}) == [
        ("report_viewed", reader, ADDRESS, uid, patient, True, "110103")
    ]
    signed = step("post", reverse("reading:sign_report", args=[uid]), SIGNED_REPORT, headers={"HX-Request": "true"})
    assert ("report_signed", reader, ADDRESS, uid, patient, True, "110110") in signed
    assert {row[0] for row in signed} <= {"report_saved", "report_signed", "study_status_changed"}
    assert verify_chain().intact


def test_a_refused_phi_request_is_audited_as_a_security_alert(sites, suwon_radiologist, icheon_radiologist):
    case = reading_case(sites["SUWON"])
    mark = last_id()
    response = as_user(icheon_radiologist).get(reverse("reading:manifest", args=[case.uid]), REMOTE_ADDR=ADDRESS)
    assert response.status_code == 403
    assert rows_since(mark) == [
        ("access_denied", "lee.icheon", ADDRESS, case.uid, case.study.patient_id, False, "110113")
    ]


SIGNED_REPORT = {
    "version": 0,
    "s-lung_rads": "4A",
    "nodule-TOTAL_FORMS": "1",
    "nodule-INITIAL_FORMS": "0",
    "nodule-MIN_NUM_FORMS": "0",
    "nodule-MAX_NUM_FORMS": "30",
    "nodule-0-location": "RUL",
    "nodule-0-size_mm": "8.5",
    "nodule-0-nodule_type": "solid",
    "findings_text": "Findings text.",
    "impression": "Solid nodule, Lung-RADS 4A.",
}
