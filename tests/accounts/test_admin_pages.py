"""The administration pages: only admins reach them; an invitation link works once; changes are
audited; a rotated engine token replaces the old one."""

import re

import pytest
from django.urls import reverse

from accounts.models import ApiToken, AuditAction, AuditEvent, User
from ai_overlays.models import AIEngine, AIModel
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def _one_time_link(response) -> str:
    return re.search(r'value="(http://testserver/accounts/manage/welcome/[^"]+)"', response.content.decode()).group(1)


@pytest.mark.parametrize("persona", ["suwon_radiologist", "data_steward"])
def test_a_user_who_is_not_an_admin_gets_403_on_the_user_list(client, request, persona):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(reverse("accounts:manage:users")).status_code == 403


def test_admin_filters_users_by_role_site_activity_and_name(admin_client, sites, suwon_radiologist, icheon_radiologist):
    make_user("old.suwon", sites=[sites["SUWON"]]).__class__.objects.filter(username="old.suwon").update(
        is_active=False
    )
    url = reverse("accounts:manage:users")
    page = admin_client.get(url, {"site": sites["SUWON"].pk, "active": "1", "role": "radiologist"}).content.decode()
    assert "kim.suwon" in page and "lee.icheon" not in page and "old.suwon" not in page
    rows = admin_client.get(url, {"q": "icheon"}, HTTP_HX_REQUEST="true").content.decode()
    assert "lee.icheon" in rows and "kim.suwon" not in rows and "<html" not in rows


def test_an_invited_user_sets_a_password_once_and_then_signs_in(admin_client, client, sites):
    response = admin_client.post(
        reverse("accounts:manage:invite"),
        {"username": "choi.new", "last_name": "Choi", "role": "radiologist", "sites": [sites["ICHEON"].pk]},
    )
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    link = _one_time_link(response)
    invited = User.objects.get(username="choi.new")
    assert not invited.has_usable_password() and list(invited.sites.all()) == [sites["ICHEON"]]

    client.logout()
    assert client.get(link).status_code == 200
    weak = client.post(link, {"new_password1": "123", "new_password2": "123"})
    assert weak.status_code == 200 and not User.objects.get(pk=invited.pk).has_usable_password()
    strong = {"new_password1": "Purple-kettle-91", "new_password2": "Purple-kettle-91"}
    assert client.post(link, strong).status_code == 302
    assert User.objects.get(pk=invited.pk).check_password("Purple-kettle-91")
    assert client.get(link).status_code == 404  # single use


def test_a_password_reset_link_voids_the_earlier_link(admin_client, client, suwon_radiologist):
    url = reverse("accounts:manage:reset_password", args=[suwon_radiologist.pk])
    first, second = _one_time_link(admin_client.post(url)), _one_time_link(admin_client.post(url))
    assert client.get(first).status_code == 404
    assert client.get(second).status_code == 200
    assert AuditEvent.objects.filter(action=AuditAction.ACCOUNT_CHANGED, user__role="admin").count() == 2


def test_the_secret_of_a_link_is_stored_only_as_its_hash(admin_client, suwon_radiologist):
    link = _one_time_link(admin_client.post(reverse("accounts:manage:reset_password", args=[suwon_radiologist.pk])))
    token = link.rstrip("/").rsplit("/", 1)[1]
    assert not suwon_radiologist.invitations.filter(token_hash=token).exists()
    assert token not in str(list(AuditEvent.objects.values_list("detail", flat=True)))


def test_admin_changes_roles_and_sites_and_the_change_is_audited(admin_client, sites, suwon_radiologist):
    response = admin_client.post(
        reverse("accounts:manage:edit_user", args=[suwon_radiologist.pk]),
        {"role": "department_head", "sites": [sites["SUWON"].pk, sites["ICHEON"].pk]},
    )
    assert response.status_code == 302
    suwon_radiologist.refresh_from_db()
    assert suwon_radiologist.role == "department_head"
    assert set(suwon_radiologist.sites.values_list("code", flat=True)) == {"SUWON", "ICHEON"}
    event = AuditEvent.objects.get(action=AuditAction.ACCOUNT_CHANGED)
    assert event.detail["change"] == "access" and event.detail["user_id"] == suwon_radiologist.pk


def test_an_admin_cannot_deactivate_or_demote_themselves(admin_client, admin_user):
    assert admin_client.post(reverse("accounts:manage:deactivate", args=[admin_user.pk])).status_code == 409
    admin_client.post(reverse("accounts:manage:edit_user", args=[admin_user.pk]), {"role": "radiologist"})
    admin_user.refresh_from_db()
    assert admin_user.is_active and admin_user.role == "admin"


def test_deactivate_and_reactivate_answer_with_the_row_for_htmx(admin_client, suwon_radiologist):
    url = reverse("accounts:manage:deactivate", args=[suwon_radiologist.pk])
    row = admin_client.post(url, HTTP_HX_REQUEST="true").content.decode()
    assert f'id="user-{suwon_radiologist.pk}"' in row and "Reactivate" in row
    admin_client.post(reverse("accounts:manage:reactivate", args=[suwon_radiologist.pk]))
    suwon_radiologist.refresh_from_db()
    assert suwon_radiologist.is_active


def test_the_top_bar_shows_administration_to_admins_only(admin_client, client, suwon_radiologist):
    link = reverse("accounts:manage:users")
    assert link in admin_client.get(reverse("accounts:manage:settings")).content.decode()
    client.force_login(suwon_radiologist)
    assert link not in client.get(reverse("worklist:home")).content.decode()


def test_settings_page_names_the_environment_variable_of_each_setting(admin_client):
    page = admin_client.get(reverse("accounts:manage:settings")).content.decode()
    assert "CLAIM_IDLE_MINUTES" in page and "WORKLIST_PRIORITY_ORDER" in page


def test_pages_read_in_korean(admin_client):
    page = admin_client.get(reverse("accounts:manage:users"), HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert 'lang="ko"' in page


@pytest.fixture
def engine(sites):
    account = make_user("acme-engine", role="ai_engine")
    engine = AIEngine.objects.create(name="Acme", user=account)
    engine.sites.set([sites["SUWON"]])
    return engine


def test_rotating_an_engine_token_revokes_the_old_one_and_shows_the_new_once(admin_client, client, engine):
    old, old_secret = ApiToken.issue(user=engine.user, name="first")
    response = admin_client.post(reverse("ai_overlays:manage_rotate_token", args=[engine.pk]))
    secret = re.search(r'class="secret-value" readonly value="([^"]+)"', response.content.decode()).group(1)
    assert response["Cache-Control"] == "no-store"
    models_url = reverse("ai_overlays:api-model-list")
    assert client.get(models_url, HTTP_AUTHORIZATION=f"Bearer {old_secret}").status_code == 401
    assert client.get(models_url, HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 200
    assert secret not in admin_client.get(reverse("ai_overlays:manage_models")).content.decode()


def test_admin_registers_a_model_version_and_deactivates_it(admin_client, engine):
    form = {
        "vendor": "Acme",
        "product": "LungNet",
        "version": "3.0",
        "clinical_area": AIModel._meta.get_field("clinical_area").choices[0][0],
        "modalities": "CT",
        "operating_threshold": 60,
        "colour": "#22aa88",
    }
    assert admin_client.post(reverse("ai_overlays:manage_register_model"), form).status_code == 302
    model = AIModel.objects.get(product="LungNet", version="3.0")
    admin_client.post(reverse("ai_overlays:manage_toggle_model", args=[model.pk]))
    model.refresh_from_db()
    assert not model.is_active
    admin_client.post(
        reverse("ai_overlays:manage_edit_engine", args=[engine.pk]),
        {"ai_models": [model.pk], "sites": list(engine.sites.values_list("pk", flat=True)), "is_active": "on"},
    )
    assert list(engine.ai_models.all()) == [model]
    assert "LungNet" in admin_client.get(reverse("ai_overlays:manage_models")).content.decode()


def test_admin_adds_a_dicom_sender_to_a_site_and_refuses_it_later(admin_client, sites):
    from worklist.models import RemoteAE

    response = admin_client.post(
        reverse("worklist:manage_add_remote_ae"),
        {"ae-ae_title": " ICHEON_MR ", "ae-site": sites["ICHEON"].pk, "ae-description": "MR room 2"},
    )
    assert response.status_code == 302
    remote = RemoteAE.objects.get(ae_title="ICHEON_MR")
    assert remote.site == sites["ICHEON"] and remote.active
    admin_client.post(reverse("worklist:manage_toggle_remote_ae", args=[remote.pk]))
    remote.refresh_from_db()
    assert not remote.active
    assert "ICHEON_MR" in admin_client.get(reverse("worklist:manage_sites")).content.decode()
    changes = AuditEvent.objects.filter(action=AuditAction.ACCOUNT_CHANGED).values_list("detail__change", flat=True)
    assert list(changes.order_by("id")) == ["remote_ae_added", "remote_ae_disabled"]


def test_an_ae_title_with_a_backslash_is_refused_with_the_reason(admin_client, sites):
    response = admin_client.post(
        reverse("worklist:manage_add_remote_ae"), {"ae-ae_title": "BAD\\AE", "ae-site": sites["SUWON"].pk}
    )
    assert response.status_code == 400 and "without a backslash" in response.content.decode()


def test_admin_adds_a_site(admin_client, sites):
    admin_client.post(reverse("worklist:manage_add_site"), {"site-code": "osan", "site-name": "Osan"})
    assert "OSAN" in admin_client.get(reverse("worklist:manage_sites")).content.decode()
