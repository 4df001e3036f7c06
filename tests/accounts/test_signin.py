"""Sign-in: throttling, a new session id, the TOTP second factor, the idle timeout, password rules."""

import time
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.idle_timeout import LAST_ACTIVITY_KEY
from accounts.models import AuditAction, AuditEvent

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
PASSWORD = "pw-for-tests-1"  # noqa: S105


def log_in(client, username, password=PASSWORD, address="10.0.0.7"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address)


def signed_in(client) -> bool:
    return client.get(reverse("worklist:home")).status_code == 200


def current_code(device: TOTPDevice, *, steps_ahead: int = 0) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + steps_ahead * device.step
    return f"{totp.token():0{device.digits}d}"


def audited(action) -> list:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


# --- a new session id -----------------------------------------------------------------------


def test_login_issues_a_new_session_id(client, suwon_radiologist):
    session = client.session
    session["before_login"] = True
    session.save()
    anonymous_key = session.session_key
    log_in(client, "kim.suwon")
    assert client.cookies["sessionid"].value != anonymous_key
    assert signed_in(client)
    from django.contrib.sessions.models import Session

    assert not Session.objects.filter(session_key=anonymous_key).exists()


# --- throttling -----------------------------------------------------------------------------


@pytest.fixture
def three_strikes(settings):
    settings.AXES_FAILURE_LIMIT = 3


def test_wrong_passwords_lock_that_username_at_that_address_and_the_page_says_for_how_long(
    client, suwon_radiologist, three_strikes
):
    assert log_in(client, "kim.suwon", "wrong-1").status_code == 200
    assert log_in(client, "kim.suwon", "wrong-2").status_code == 200
    locked = log_in(client, "kim.suwon", "wrong-3")
    assert locked.status_code == 429
    assert "locked" in locked.text and "15 minutes" in locked.text
    # Now even the right password is refused, and no session comes of it.
    assert log_in(client, "kim.suwon").status_code == 429
    assert not signed_in(client)
    failures = audited(AuditAction.LOGIN_FAILED)
    assert len(failures) == 4 and not any(event.success for event in failures)
    assert [event.detail.get("locked_out", False) for event in failures] == [False, False, True, True]
    assert not audited(AuditAction.LOGIN)


def test_a_lockout_does_not_stop_the_same_user_at_another_workstation(client, suwon_radiologist, three_strikes):
    for attempt in range(3):
        log_in(client, "kim.suwon", f"wrong-{attempt}")
    assert log_in(client, "kim.suwon", address="10.0.0.99").status_code == 302
    assert signed_in(client)


def test_the_lockout_ends_after_the_cool_off(client, suwon_radiologist, three_strikes, settings):
    for attempt in range(3):
        log_in(client, "kim.suwon", f"wrong-{attempt}")
    assert log_in(client, "kim.suwon").status_code == 429
    AccessAttempt.objects.update(attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(minutes=16))
    assert log_in(client, "kim.suwon").status_code == 302
    assert signed_in(client)


def test_a_forged_forwarded_address_does_not_escape_the_lockout(client, suwon_radiologist, three_strikes):
    for attempt in range(3):
        log_in(client, "kim.suwon", f"wrong-{attempt}")
    response = client.post(
        LOGIN, {"username": "kim.suwon", "password": PASSWORD}, REMOTE_ADDR="10.0.0.7", HTTP_X_FORWARDED_FOR="1.2.3.4"
    )
    assert response.status_code == 429


# --- the second factor ----------------------------------------------------------------------


@pytest.fixture
def otp_for_admins(settings):
    settings.OTP_REQUIRED_ROLES = ["admin", "data_steward"]


def test_an_admin_without_a_device_enrols_with_a_qr_code_before_the_session_begins(client, admin_user, otp_for_admins):
    response = log_in(client, "admin")
    assert response.status_code == 302 and response["Location"] == reverse("accounts:two_factor_enrol")
    assert not signed_in(client), "the password alone must not sign an admin in"
    page = client.get(reverse("accounts:two_factor_enrol"))
    assert page.status_code == 200
    assert 'src="data:image/svg+xml' in page.text
    assert "no-store" in page["Cache-Control"]
    device = TOTPDevice.objects.get(user=admin_user, confirmed=False)
    # A reload shows the same secret: the code scanned a moment ago stays valid.
    client.get(reverse("accounts:two_factor_enrol"))
    assert TOTPDevice.objects.filter(user=admin_user).count() == 1

    done = client.post(reverse("accounts:two_factor_enrol"), {"token": current_code(device)})
    assert done.status_code == 302
    assert signed_in(client)
    assert TOTPDevice.objects.get(user=admin_user).confirmed
    login = audited(AuditAction.LOGIN)[-1]
    assert (login.user, login.detail) == (admin_user, {"second_factor_enrolled": True})


def test_an_enrolled_admin_types_a_code_after_the_password(client, admin_user, otp_for_admins):
    device = TOTPDevice.objects.create(user=admin_user, name="phone", confirmed=True)
    response = log_in(client, "admin")
    assert response["Location"] == reverse("accounts:two_factor")
    assert not signed_in(client)
    wrong = client.post(reverse("accounts:two_factor"), {"token": "000000"})
    assert wrong.status_code == 200 and "not right" in wrong.text
    assert audited(AuditAction.LOGIN_FAILED)[-1].detail == {"step": "second_factor"}
    device.refresh_from_db()
    device.throttling_failure_count = 0  # django-otp's own back-off would refuse the next try for a second
    device.throttling_failure_timestamp = None
    device.save()
    session_before = client.cookies["sessionid"].value
    assert client.post(reverse("accounts:two_factor"), {"token": current_code(device)}).status_code == 302
    assert client.cookies["sessionid"].value != session_before
    assert signed_in(client)
    assert audited(AuditAction.LOGIN)[-1].user == admin_user


def test_five_wrong_codes_send_the_user_back_to_the_password(client, data_steward, otp_for_admins):
    TOTPDevice.objects.create(user=data_steward, name="phone", confirmed=True)
    log_in(client, "steward")
    for _ in range(5):
        response = client.post(reverse("accounts:two_factor"), {"token": "123456"})
    assert response.status_code == 302 and response["Location"] == reverse("accounts:login")
    assert client.get(reverse("accounts:two_factor"))["Location"] == reverse("accounts:login")
    assert len(audited(AuditAction.LOGIN_FAILED)) == 5


def test_a_held_sign_in_expires_after_five_minutes(client, admin_user, otp_for_admins):
    TOTPDevice.objects.create(user=admin_user, name="phone", confirmed=True)
    log_in(client, "admin")
    session = client.session
    session["signin_pending"] = {**session["signin_pending"], "since": time.time() - 301}
    session.save()
    assert client.get(reverse("accounts:two_factor"))["Location"] == reverse("accounts:login")


def test_a_radiologist_signs_in_with_the_password_alone_unless_the_role_is_switched_on(
    client, suwon_radiologist, otp_for_admins, settings
):
    assert log_in(client, "kim.suwon")["Location"] == reverse("worklist:home")
    client.post(reverse("accounts:logout"))
    settings.OTP_REQUIRED_ROLES = ["radiologist"]
    assert log_in(client, "kim.suwon")["Location"] == reverse("accounts:two_factor_enrol")


def test_a_user_who_enrolled_of_their_own_accord_is_always_asked(client, suwon_radiologist):
    TOTPDevice.objects.create(user=suwon_radiologist, name="phone", confirmed=True)
    assert log_in(client, "kim.suwon")["Location"] == reverse("accounts:two_factor")


def test_a_session_opened_without_the_second_factor_is_ended(client, admin_user, otp_for_admins):
    # What the Django admin's own login page would make: a session with the password alone.
    client.force_login(admin_user)
    response = client.get(reverse("worklist:home"))
    assert response.status_code == 302 and response["Location"] == reverse("accounts:login")
    assert not signed_in(client)


def test_in_development_nobody_is_asked_for_a_second_factor_by_default(client, admin_user):
    assert log_in(client, "admin")["Location"] == reverse("worklist:home")


# --- the idle timeout -----------------------------------------------------------------------


def go_idle(client, minutes: float) -> None:
    session = client.session
    session[LAST_ACTIVITY_KEY] = time.time() - minutes * 60
    session.save()


def last_activity_age(client) -> float:
    return time.time() - client.session[LAST_ACTIVITY_KEY]


def test_a_request_after_the_idle_time_ends_the_session_and_says_why(client, suwon_radiologist):
    client.force_login(suwon_radiologist)
    go_idle(client, 31)
    response = client.get(reverse("worklist:home"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("accounts:login"))
    page = client.get(response["Location"])
    assert "signed out after 30 minutes without activity" in page.text
    assert not signed_in(client)


def test_a_page_load_before_the_idle_time_keeps_the_session(client, suwon_radiologist):
    client.force_login(suwon_radiologist)
    go_idle(client, 29)
    assert client.get(reverse("worklist:home")).status_code == 200
    assert last_activity_age(client) < 5


def test_live_refreshes_and_fetches_do_not_count_as_activity(client, suwon_radiologist):
    client.force_login(suwon_radiologist)
    go_idle(client, 20)
    assert client.get(reverse("worklist:home"), HTTP_HX_REQUEST="true").status_code == 200
    client.get(reverse("worklist:home"), HTTP_SEC_FETCH_DEST="empty")
    assert last_activity_age(client) > 19 * 60


def test_the_activity_ping_of_real_input_keeps_the_session(client, suwon_radiologist):
    client.force_login(suwon_radiologist)
    go_idle(client, 20)
    assert client.post(reverse("accounts:activity"), HTTP_SEC_FETCH_DEST="empty").status_code == 204
    assert last_activity_age(client) < 5


def test_after_the_idle_time_the_ping_answers_401_and_htmx_is_sent_to_the_login_page(client, suwon_radiologist):
    client.force_login(suwon_radiologist)
    go_idle(client, 31)
    assert client.post(reverse("accounts:activity")).status_code == 401
    client.force_login(suwon_radiologist)
    go_idle(client, 31)
    response = client.get(reverse("worklist:home"), HTTP_HX_REQUEST="true")
    assert response["HX-Redirect"] == reverse("accounts:login")


def test_signed_in_pages_carry_the_idle_timeout_for_the_browser(client, suwon_radiologist):
    client.force_login(suwon_radiologist)
    page = client.get(reverse("worklist:home")).text
    assert '<meta name="idle-timeout" content="1800"' in page and "js/idle.js" in page
    client.post(reverse("accounts:logout"))
    assert "idle-timeout" not in client.get(LOGIN).text


# --- password rules -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "password",
    ["short-pw-1", "123456789012345", "password1234", "kim.suwon.2024"],
    ids=["shorter than 12", "numeric", "common", "like the username"],
)
def test_weak_passwords_are_refused(password, suwon_radiologist):
    with pytest.raises(ValidationError):
        validate_password(password, user=suwon_radiologist)


def test_a_long_uncommon_password_is_accepted(suwon_radiologist):
    validate_password("radiant-heron-orbit-57", user=suwon_radiologist)


def test_the_demo_users_can_still_log_in(client, sites):
    from worklist.demo_setup import DEMO_PASSWORD, ensure_demo_users, ensure_sites_and_peers

    ensure_demo_users(ensure_sites_and_peers())
    for username in ("admin", "steward", "rad.suwon"):
        assert log_in(client, username, DEMO_PASSWORD).status_code == 302
        client.post(reverse("accounts:logout"))
