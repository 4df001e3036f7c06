"""Every page needs a login; a radiologist sees only the studies of their own sites."""

import pytest
from django.urls import reverse
from pydicom.data import get_testdata_file

from accounts.models import AuditAction, AuditEvent
from worklist.ingest import ingest
from worklist.models import Study

pytestmark = pytest.mark.django_db


@pytest.fixture
def suwon_study(sites):
    with open(get_testdata_file("CT_small.dcm"), "rb") as handle:
        ingest(handle.read(), site=sites["SUWON"], source="test")
    return Study.objects.get()


def test_anonymous_visitor_is_sent_to_login(client):
    for url in (reverse("worklist:home"), reverse("admin:index")):
        response = client.get(url)
        assert response.status_code == 302
        assert "login" in response["Location"]


def test_radiologist_sees_own_site_study_and_its_view_is_audited(client, suwon_radiologist, suwon_study):
    client.force_login(suwon_radiologist)
    assert suwon_study.study_instance_uid in client.get(reverse("worklist:home")).content.decode()
    response = client.get(reverse("worklist:study", args=[suwon_study.study_instance_uid]), REMOTE_ADDR="10.1.2.3")
    assert response.status_code == 200
    event = AuditEvent.objects.filter(action=AuditAction.STUDY_VIEWED).get()
    assert (event.user, event.source, event.study_uid) == (
        suwon_radiologist,
        "10.1.2.3",
        suwon_study.study_instance_uid,
    )


def test_other_site_radiologist_gets_403_an_audit_alert_and_an_empty_list(client, icheon_radiologist, suwon_study):
    client.force_login(icheon_radiologist)
    assert suwon_study.study_instance_uid not in client.get(reverse("worklist:home")).content.decode()
    assert client.get(reverse("worklist:study", args=[suwon_study.study_instance_uid])).status_code == 403
    assert not AuditEvent.objects.filter(action=AuditAction.STUDY_VIEWED).exists()
    denial = AuditEvent.objects.get(action=AuditAction.ACCESS_DENIED)
    assert (denial.user, denial.study_uid, denial.success) == (
        icheon_radiologist,
        suwon_study.study_instance_uid,
        False,
    )


def test_an_unknown_study_is_a_404(client, suwon_radiologist, sites):
    client.force_login(suwon_radiologist)
    assert client.get(reverse("worklist:study", args=["1.2.3.4"])).status_code == 404


def test_hub_radiologist_sees_every_site(client, hub_radiologist, suwon_study):
    client.force_login(hub_radiologist)
    assert client.get(reverse("worklist:study", args=[suwon_study.study_instance_uid])).status_code == 200


def test_data_steward_may_not_open_identified_studies(client, data_steward, suwon_study):
    client.force_login(data_steward)
    viewer = reverse("reading:viewer", args=[suwon_study.study_instance_uid])
    assert client.get(viewer).status_code == 403
    assert AuditEvent.objects.filter(action=AuditAction.ACCESS_DENIED, user=data_steward).exists()


def test_login_and_failed_login_are_audited(client, suwon_radiologist):
    client.post(reverse("accounts:login"), {"username": "kim.suwon", "password": "wrong"})
    client.post(reverse("accounts:login"), {"username": "kim.suwon", "password": "pw-for-tests-1"})
    actions = list(AuditEvent.objects.order_by("id").values_list("action", "success"))
    assert actions == [(AuditAction.LOGIN_FAILED, False), (AuditAction.LOGIN, True)]


def test_pages_carry_a_content_security_policy_without_inline_script(client, suwon_radiologist):
    client.force_login(suwon_radiologist)
    response = client.get(reverse("worklist:home"))
    policy = response["Content-Security-Policy"]
    assert "script-src 'self' 'nonce-" in policy and "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    assert response["X-Content-Type-Options"] == "nosniff"
