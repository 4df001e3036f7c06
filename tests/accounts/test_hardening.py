"""Hardening: security headers, production cookie and HSTS settings, generic error pages with DEBUG
off, and RFC 9457 problem details for API errors; never a traceback."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client
from django.urls import path, reverse

import config.urls
from config.urls import handler400, handler403, handler404, handler500  # noqa: F401  (this urlconf's handlers)

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.accounts.test_hardening")]

PROJECT = Path(__file__).resolve().parents[2]
SECRET_MARK = "secret-detail-of-a-broken-view"


def broken_view(request):
    raise RuntimeError(SECRET_MARK)


urlpatterns = [
    path("broken/", broken_view),
    path("api/broken/", broken_view),
    *config.urls.urlpatterns,
]


@pytest.fixture
def quiet_client():
    # What a browser gets: the exception becomes the 500 handler's answer instead of reaching the test.
    return Client(raise_request_exception=False)


def test_pages_forbid_inline_script_framing_and_sniffing(client, suwon_radiologist):
    client.force_login(suwon_radiologist)
    response = client.get("/")
    policy = response["Content-Security-Policy"]
    script_src = next(part for part in policy.split(";") if part.strip().startswith("script-src"))
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
    assert "frame-ancestors 'none'" in policy
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"


def test_production_turns_on_hsts_and_secure_cookies():
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL", "DEBUG")}
    env.update(READINGWS_ENV="production", SECRET_KEY="x" * 50, ALLOWED_HOSTS="ws.example")
    script = (
        "import json, config.settings as s; print(json.dumps([s.SECURE_HSTS_SECONDS, s.SESSION_COOKIE_SECURE,"
        " s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, s.SECURE_SSL_REDIRECT, s.OTP_REQUIRED_ROLES]))"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=PROJECT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    hsts, session_secure, csrf_secure, http_only, ssl_redirect, otp_roles = json.loads(result.stdout)
    assert hsts >= 31536000 and session_secure and csrf_secure and http_only and ssl_redirect
    assert otp_roles == ["admin", "data_steward"]


def test_an_unknown_page_is_the_generic_404_page(client, suwon_radiologist):
    client.force_login(suwon_radiologist)
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert "There is nothing at this address" in response.text


def test_a_refused_page_is_the_generic_403_page(client, data_steward):
    client.force_login(data_steward)
    response = client.get(reverse("worklist:upload"))
    assert response.status_code == 403
    assert "may not open this page" in response.text


def test_a_crash_shows_the_generic_500_page_without_a_traceback(quiet_client, suwon_radiologist):
    quiet_client.force_login(suwon_radiologist)
    response = quiet_client.get("/broken/")
    assert response.status_code == 500
    assert "Something went wrong on the server" in response.text
    assert SECRET_MARK not in response.text and "Traceback" not in response.text


def test_a_crash_in_a_json_endpoint_is_a_problem_without_the_exception_text(quiet_client, suwon_radiologist):
    quiet_client.force_login(suwon_radiologist)
    response = quiet_client.get("/api/broken/")
    assert response.status_code == 500
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert (body["status"], body["title"]) == (500, "Internal Server Error")
    assert SECRET_MARK not in response.text


def test_an_api_request_without_credentials_is_a_problem_json(client):
    response = client.get("/ai/api/v1/models/")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 401 and body["title"] == "Unauthorized" and body["detail"]
    assert response["WWW-Authenticate"] == "Bearer"


def test_a_revoked_token_is_a_problem_json(client):
    response = client.get("/ai/api/v1/models/", HTTP_AUTHORIZATION="Bearer not-a-real-token")
    assert (response.status_code, response.json()["detail"]) == (401, "Invalid or revoked token.")


def test_a_json_client_gets_a_problem_for_an_unknown_url(client):
    response = client.get("/api/no-such-endpoint/")
    assert response.status_code == 404
    assert response.json() == {"type": "about:blank", "title": "Not Found", "status": 404, "detail": "Nothing is here."}
