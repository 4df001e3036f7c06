"""The viewer page: who may open it, and that it is a shell the CSP allows (no inline script)."""

import json
import re

import pytest
from django.urls import reverse

from accounts.models import AuditAction, AuditEvent
from tests.worklist.studies import make_study


@pytest.fixture
def suwon_study(sites):
    return make_study(sites["SUWON"], name="KIM^MINJI", description="CT CHEST")


def viewer_url(study) -> str:
    return reverse("reading:viewer", args=[study.study_instance_uid])


def test_the_viewer_lives_under_reading_studies(suwon_study):
    assert viewer_url(suwon_study) == f"/reading/studies/{suwon_study.study_instance_uid}/"


def test_anonymous_visitor_is_sent_to_log_in(client, suwon_study):
    response = client.get(viewer_url(suwon_study))
    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:login"))


def test_radiologist_of_the_site_gets_the_viewer_with_its_manifest_url(client, suwon_radiologist, suwon_study):
    client.force_login(suwon_radiologist)
    response = client.get(viewer_url(suwon_study))
    assert response.status_code == 200
    html = response.content.decode()
    uid = suwon_study.study_instance_uid
    assert f'data-manifest-url="/reading/api/studies/{uid}/manifest"' in html
    assert 'data-manifest-url-template="/reading/api/studies/STUDY_UID/manifest"' in html
    assert 'id="viewport-grid"' in html


def viewer_strings(html: str) -> dict:
    return json.loads(re.search(r'id="viewer-strings" type="application/json">(.*?)</script>', html, re.DOTALL)[1])


def test_the_page_has_no_inline_script_and_its_strings_come_as_json(client, suwon_radiologist, suwon_study):
    client.force_login(suwon_radiologist)
    client.cookies["django_language"] = "en"
    response = client.get(viewer_url(suwon_study))
    html = response.content.decode()
    assert "script-src 'self' 'nonce-" in response.headers["Content-Security-Policy"]
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.DOTALL)
    for attributes, body in scripts:
        assert "src=" in attributes or 'type="application/json"' in attributes, attributes
        assert "src=" not in attributes or not body.strip()
    assert viewer_strings(html)["image"] == "Im {index} / {count}"
    assert 'src="/static/js/viewer/main.js"' in html


def test_radiologist_of_another_site_gets_403_and_an_audited_refusal(client, icheon_radiologist, suwon_study):
    client.force_login(icheon_radiologist)
    response = client.get(viewer_url(suwon_study))
    assert response.status_code == 403
    refusal = AuditEvent.objects.get(action=AuditAction.ACCESS_DENIED)
    assert (refusal.username, refusal.study_uid, refusal.success) == (
        "lee.icheon",
        suwon_study.study_instance_uid,
        False,
    )


def test_hub_radiologist_reads_every_site(client, hub_radiologist, suwon_study):
    client.force_login(hub_radiologist)
    assert client.get(viewer_url(suwon_study)).status_code == 200


def test_data_steward_may_not_view_studies(client, data_steward, suwon_study):
    client.force_login(data_steward)
    assert client.get(viewer_url(suwon_study)).status_code == 403


def test_unknown_study_is_404(client, suwon_radiologist, sites):
    client.force_login(suwon_radiologist)
    assert client.get("/reading/studies/1.2.3.4.5/").status_code == 404


def test_the_page_speaks_korean(client, suwon_radiologist, suwon_study):
    client.force_login(suwon_radiologist)
    client.cookies["django_language"] = "ko"
    response = client.get(viewer_url(suwon_study))
    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="ko">' in html
    # Translated, with the placeholders the modules fill in kept.
    image = viewer_strings(html)["image"]
    assert image != "Im {index} / {count}"
    assert "{index}" in image and "{count}" in image
