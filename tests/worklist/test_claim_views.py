"""Claim, release and reassign from the worklist over HTTP: the updated row on success, 409 with the
reader's name when someone else has the study, 404 for another site's study, 403 without the role."""

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import AuditAction, AuditEvent
from tests.conftest import make_user
from tests.worklist.studies import make_study
from worklist.models import Study, StudyStatus

HTMX = {"HX-Request": "true"}


@pytest.fixture
def study(sites):
    return make_study(sites["SUWON"])


@pytest.fixture
def suwon_head(sites):
    return make_user("jung.head", role="department_head", sites=[sites["SUWON"]])


def url(name: str, study: Study) -> str:
    return reverse(f"worklist:{name}", args=[study.study_instance_uid])


def as_user(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_claim_answers_the_row_with_release_and_is_audited(study, suwon_radiologist):
    response = as_user(suwon_radiologist).post(url("claim", study), headers=HTMX, REMOTE_ADDR="10.0.0.7")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.startswith(f'<tr id="study-{study.pk}"') and "hx-swap-oob" not in html
    assert 'class="release"' in html and "kim.suwon" in html
    study.refresh_from_db()
    assert (study.claimed_by, study.status) == (suwon_radiologist, StudyStatus.IN_READING)
    event = AuditEvent.objects.get(action=AuditAction.STUDY_CLAIMED)
    assert (event.user, event.source, event.study_uid) == (suwon_radiologist, "10.0.0.7", study.study_instance_uid)


def test_second_claim_gets_409_naming_the_reader(study, suwon_radiologist, hub_radiologist):
    suwon_radiologist.first_name, suwon_radiologist.last_name = "Minjun", "Kim"
    suwon_radiologist.save()
    assert as_user(suwon_radiologist).post(url("claim", study)).status_code == 200
    response = as_user(hub_radiologist).post(url("claim", study), headers=HTMX)
    assert response.status_code == 409
    html = response.content.decode()
    assert f'<tr id="study-{study.pk}"' in html
    assert '<span class="notice" role="alert">Minjun Kim' in html
    assert Study.objects.get(pk=study.pk).claimed_by == suwon_radiologist


def test_claiming_ones_own_study_again_changes_nothing(study, suwon_radiologist):
    client = as_user(suwon_radiologist)
    client.post(url("claim", study))
    assert client.post(url("claim", study)).status_code == 200
    assert AuditEvent.objects.filter(action=AuditAction.STUDY_CLAIMED).count() == 1


def test_a_read_study_cannot_be_claimed(sites, suwon_radiologist):
    read = make_study(sites["SUWON"], status=StudyStatus.READ)
    response = as_user(suwon_radiologist).post(url("claim", read))
    assert response.status_code == 409 and 'class="notice"' in response.content.decode()


def test_release_by_the_reader_and_refused_to_others(study, suwon_radiologist, hub_radiologist):
    as_user(suwon_radiologist).post(url("claim", study))
    refused = as_user(hub_radiologist).post(url("release", study))
    assert refused.status_code == 409 and 'class="notice"' in refused.content.decode()
    response = as_user(suwon_radiologist).post(url("release", study), headers=HTMX)
    assert response.status_code == 200 and 'class="claim"' in response.content.decode()
    study.refresh_from_db()
    assert (study.claimed_by, study.status) == (None, StudyStatus.ARRIVED)


def test_another_sites_study_is_refused_and_audited_and_an_unknown_one_is_404(study, icheon_radiologist, sites):
    icheon_head = make_user("han.icheon", role="department_head", sites=[sites["ICHEON"]])
    assert as_user(icheon_radiologist).post(url("claim", study)).status_code == 403
    assert as_user(icheon_radiologist).post(url("release", study)).status_code == 403
    assert as_user(icheon_head).get(url("reassign", study)).status_code == 403
    assert Study.objects.get(pk=study.pk).claimed_by is None
    denied = AuditEvent.objects.filter(action=AuditAction.ACCESS_DENIED, study_uid=study.study_instance_uid)
    assert denied.count() == 3
    unknown = reverse("worklist:claim", args=["1.2.3.4.5.6.7"])
    assert as_user(icheon_radiologist).post(unknown).status_code == 404


def test_who_may_not_claim_gets_403(study, admin_user, data_steward):
    assert as_user(admin_user).post(url("claim", study)).status_code == 403
    assert as_user(data_steward).post(url("claim", study)).status_code == 403


def test_claim_needs_post_and_the_csrf_token(study, suwon_radiologist):
    client = Client(enforce_csrf_checks=True)
    client.force_login(suwon_radiologist)
    assert client.get(url("claim", study)).status_code == 405
    assert client.post(url("claim", study)).status_code == 403
    token = client.get("/").context["csrf_token"]
    assert client.post(url("claim", study), headers={"X-CSRFToken": str(token), **HTMX}).status_code == 200


def test_head_reassigns_to_a_radiologist_of_the_site(study, suwon_head, suwon_radiologist, hub_radiologist):
    as_user(hub_radiologist).post(url("claim", study))
    response = as_user(suwon_head).post(url("reassign", study), {"to": suwon_radiologist.pk}, headers=HTMX)
    assert response.status_code == 200
    study.refresh_from_db()
    assert study.claimed_by == suwon_radiologist
    event = AuditEvent.objects.get(action=AuditAction.STUDY_REASSIGNED)
    assert (event.user, event.detail["previous_reader"], event.detail["new_reader"]) == (
        suwon_head,
        hub_radiologist.pk,
        suwon_radiologist.pk,
    )


def test_head_can_send_a_study_back_to_the_list(study, suwon_head, suwon_radiologist):
    as_user(suwon_radiologist).post(url("claim", study))
    assert as_user(suwon_head).post(url("reassign", study), {"to": ""}).status_code == 200
    assert Study.objects.get(pk=study.pk).claimed_by is None


def test_reassign_form_offers_only_readers_of_the_site(study, suwon_head, suwon_radiologist, icheon_radiologist):
    hub = make_user("park.hub", all_sites=True)
    steward = make_user("steward.suwon", role="data_steward", sites=[study.site])
    html = as_user(suwon_head).get(url("reassign", study), headers=HTMX).content.decode()
    assert f'value="{suwon_radiologist.pk}"' in html and f'value="{hub.pk}"' in html
    assert f'value="{icheon_radiologist.pk}"' not in html and f'value="{steward.pk}"' not in html


def test_reassign_to_another_sites_radiologist_is_refused(study, suwon_head, icheon_radiologist):
    response = as_user(suwon_head).post(url("reassign", study), {"to": icheon_radiologist.pk})
    assert response.status_code == 400 and 'class="notice"' in response.content.decode()
    assert Study.objects.get(pk=study.pk).claimed_by is None


def test_radiologist_may_not_reassign(study, suwon_radiologist, hub_radiologist):
    response = as_user(suwon_radiologist).post(url("reassign", study), {"to": hub_radiologist.pk})
    assert response.status_code == 403
    assert Study.objects.get(pk=study.pk).claimed_by is None
    assert AuditEvent.objects.filter(action=AuditAction.ACCESS_DENIED, user=suwon_radiologist).exists()


def test_rows_show_buttons_by_role(client, study, suwon_radiologist, suwon_head, admin_user):
    as_user(suwon_radiologist).post(url("claim", study))
    other = make_study(study.site, minutes=5)
    own = as_user(suwon_radiologist).get("/").content.decode()
    assert 'class="release"' in own and 'class="claim"' in own and 'class="reassign"' not in own
    head = as_user(suwon_head).get("/").content.decode()
    assert '<details class="reassign">' in head and "data-release-url" not in head
    admin = as_user(admin_user).get("/").content.decode()
    assert 'class="claim"' not in admin and '<details class="reassign">' in admin
    assert f"study-{other.pk}" in admin
