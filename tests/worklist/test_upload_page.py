import re
from pathlib import Path

import pytest
from django.test import Client
from pydicom.data import get_testdata_file

from worklist.models import Instance, Study

pytestmark = pytest.mark.django_db


def logged_in(user) -> Client:
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    return browser


def attribute(html: str, name: str) -> str:
    match = re.search(rf'{name}="([^"]*)"', html)
    assert match, f"{name} not in the page"
    return match.group(1)


def test_hub_radiologist_chooses_among_all_sites(hub_radiologist):
    page = logged_in(hub_radiologist).get("/upload/")
    assert page.status_code == 200
    html = page.text
    assert '<select name="site" required>' in html
    assert re.findall(r'<option value="([A-Z]+)">', html) == [
        "ANSEONG",
        "ICHEON",
        "SUWON",
    ]
    assert attribute(html, "data-endpoint") == "/dicomweb/studies"
    assert 'src="/static/js/upload.js"' in html and "<script>" not in html


def test_single_site_radiologist_has_no_selector(suwon_radiologist):
    html = logged_in(suwon_radiologist).get("/upload/").text
    assert '<select name="site"' not in html
    assert '<input type="hidden" name="site" value="SUWON">' in html


def test_every_page_links_to_the_upload_page(suwon_radiologist):
    assert 'href="/upload/"' in logged_in(suwon_radiologist).get("/").text


def test_the_pacs_link_shows_only_when_a_pacs_is_configured(hub_radiologist, settings):
    settings.PACS_DICOMWEB_URL = ""
    assert 'href="/pacs/"' not in logged_in(hub_radiologist).get("/upload/").text
    settings.PACS_DICOMWEB_URL = "http://127.0.0.1:1/dicom-web"
    assert 'href="/pacs/"' in logged_in(hub_radiologist).get("/upload/").text


def test_anonymous_is_sent_to_login(client, sites):
    response = client.get("/upload/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_a_role_without_upload_permission_gets_403(data_steward):
    assert logged_in(data_steward).get("/upload/").status_code == 403


def test_upload_through_the_pages_endpoint_with_its_csrf_token(hub_radiologist):
    """What upload.js does: the page's token in X-CSRFToken, the chosen site, JSON answers."""
    browser = logged_in(hub_radiologist)
    html = browser.get("/upload/").text
    token = attribute(html, 'name="csrfmiddlewaretoken" value')
    boundary = "readingws-page-test"
    ct = Path(get_testdata_file("CT_small.dcm")).read_bytes()
    body = (
        b"".join(
            f"\r\n--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + content
            for content in (ct, b"not a DICOM file", ct)
        )
        + f"\r\n--{boundary}--\r\n".encode()
    )
    response = browser.post(
        attribute(html, "data-endpoint") + "?site=ICHEON",
        data=body,
        content_type=f'multipart/related; type="application/dicom"; boundary={boundary}',
        HTTP_ACCEPT="application/json",
        HTTP_X_CSRFTOKEN=token,
    )
    assert response.status_code == 202
    answer = response.json()
    assert [item["outcome"] for item in answer["instances"]] == [
        "stored",
        "refused",
        "already_present",
    ]
    assert answer["instances"][1]["reason"]
    assert Study.objects.get().site.code == "ICHEON"
    assert Instance.objects.count() == 1
