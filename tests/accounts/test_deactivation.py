"""Deactivating a user ends their access at once: open WebSockets closed within 5 seconds,
sessions deleted, API tokens revoked; nothing of it happens if the change rolls back."""

import asyncio
import time

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.contrib.auth import authenticate
from django.contrib.sessions.models import Session
from django.db import connections, transaction
from django.test import RequestFactory
from django.urls import reverse

from accounts.deactivation import deactivate_user, end_sessions
from accounts.models import ApiToken, AuditAction, AuditEvent
from config.asgi import application

CLOSE_WITHIN_SECONDS = 5


def _socket_for(client, path: str) -> WebsocketCommunicator:
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    return WebsocketCommunicator(application, path, headers=[(b"cookie", cookie), (b"origin", b"http://localhost")])


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
async def _fresh_layer():
    await get_channel_layer().flush()
    yield
    # The consumers' database thread outlives the test: its PostgreSQL session must not.
    await database_sync_to_async(connections.close_all)()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("_fresh_layer")
async def test_an_open_worklist_socket_is_closed_within_five_seconds_of_deactivation(
    client, suwon_radiologist, admin_user
):
    await database_sync_to_async(client.force_login)(suwon_radiologist)
    socket = _socket_for(client, "/ws/worklist/")
    connected, _ = await socket.connect(timeout=5)
    assert connected

    started = time.monotonic()
    await database_sync_to_async(deactivate_user)(user=suwon_radiologist, by=admin_user)
    closed = await socket.receive_output(timeout=CLOSE_WITHIN_SECONDS)
    elapsed = time.monotonic() - started

    assert closed["type"] == "websocket.close" and closed["code"] == 4403
    assert elapsed < CLOSE_WITHIN_SECONDS
    await socket.wait()

    again = _socket_for(client, "/ws/worklist/")
    reconnected, code = await again.connect(timeout=5)
    assert not reconnected and code == 4401  # the session is gone, so the socket is anonymous
    await again.disconnect()


@pytest.mark.django_db
def test_deactivation_deletes_only_that_users_sessions_and_revokes_their_tokens(
    client, suwon_radiologist, icheon_radiologist, admin_user
):
    from django.test import Client

    other = Client()
    client.force_login(suwon_radiologist)
    other.force_login(icheon_radiologist)
    token, secret = ApiToken.issue(user=suwon_radiologist, name="script")

    deactivate_user(user=suwon_radiologist, by=admin_user, source="10.0.0.9")

    assert client.get(reverse("worklist:home")).status_code == 302  # back to the login page
    assert other.get(reverse("worklist:home")).status_code == 200
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert Session.objects.count() == 1
    event = AuditEvent.objects.get(action=AuditAction.ACCOUNT_CHANGED)
    assert (event.user, event.source, event.detail["change"], event.detail["tokens_revoked"]) == (
        admin_user,
        "10.0.0.9",
        "deactivated",
        1,
    )


@pytest.mark.django_db
def test_a_deactivated_users_password_no_longer_signs_in(client, suwon_radiologist, admin_user):
    deactivate_user(user=suwon_radiologist, by=admin_user)
    request = RequestFactory().post(reverse("accounts:login"))
    assert authenticate(request, username="kim.suwon", password="pw-for-tests-1") is None


@pytest.mark.django_db
def test_a_rolled_back_deactivation_leaves_the_user_signed_in(client, suwon_radiologist, admin_user):
    client.force_login(suwon_radiologist)
    with pytest.raises(RuntimeError), transaction.atomic():
        deactivate_user(user=suwon_radiologist, by=admin_user)
        raise RuntimeError("the surrounding change failed")
    suwon_radiologist.refresh_from_db()
    assert suwon_radiologist.is_active and Session.objects.count() == 1
    assert client.get(reverse("worklist:home")).status_code == 200


@pytest.mark.django_db
def test_ending_sessions_of_a_user_without_any_is_harmless(suwon_radiologist):
    assert end_sessions(suwon_radiologist) == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("_fresh_layer")
async def test_an_admin_deactivating_through_the_page_closes_the_users_socket(client, suwon_radiologist, admin_user):
    from django.test import AsyncClient

    await database_sync_to_async(client.force_login)(suwon_radiologist)
    socket = _socket_for(client, "/ws/worklist/")
    assert (await socket.connect(timeout=5))[0]
    admin = AsyncClient()
    await database_sync_to_async(admin.force_login)(admin_user)
    response = await admin.post(reverse("accounts:manage:deactivate", args=[suwon_radiologist.pk]))
    assert response.status_code == 302
    closed = await asyncio.wait_for(socket.receive_output(), CLOSE_WITHIN_SECONDS)
    assert closed["type"] == "websocket.close"
    await socket.wait()


@pytest.fixture
def suwon_study(sites):
    from pydicom.data import get_testdata_file

    from worklist.ingest import ingest
    from worklist.models import Study

    with open(get_testdata_file("CT_small.dcm"), "rb") as handle:
        ingest(handle.read(), site=sites["SUWON"], source="test")
    return Study.objects.get()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("_fresh_layer")
async def test_an_open_viewer_ai_socket_is_closed_too(client, suwon_radiologist, admin_user, suwon_study):
    await database_sync_to_async(client.force_login)(suwon_radiologist)
    socket = _socket_for(client, f"/ws/viewer/studies/{suwon_study.study_instance_uid}/ai/")
    assert (await socket.connect(timeout=5))[0]
    await database_sync_to_async(deactivate_user)(user=suwon_radiologist, by=admin_user)
    closed = await socket.receive_output(timeout=CLOSE_WITHIN_SECONDS)
    assert closed["type"] == "websocket.close" and closed["code"] == 4403
    await socket.wait()
