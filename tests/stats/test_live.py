"""The dashboard's socket: who may open it, and that a verdict or a signature landing nudges the
open page to re-read its figures. Through the same ASGI stack as config.asgi."""

import json

import pytest
from asgiref.sync import sync_to_async
from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.routing import URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from channels.testing import WebsocketCommunicator
from django.db import connections
from django.test import Client

from reading.models import Verdict
from stats import consumers
from tests.ai_overlays.factories import make_model
from tests.conftest import make_user
from tests.stats.builders import decide, make_result, make_study
from worklist import live_rows, workflow

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://localhost")
application = AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(consumers.websocket_urlpatterns)))


@pytest.fixture(autouse=True)
def _fast(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.STATS_LIVE_POLL_SECONDS = 0.1


@pytest.fixture(autouse=True)
async def _fresh_layer():
    live_rows.clear()
    await get_channel_layer().flush()
    yield
    live_rows.clear()
    await database_sync_to_async(connections.close_all)()


@pytest.fixture
def open_finding(sites):
    lung = make_model("Acme", "LungNet", "1.0", clinical_area="lung")
    study = make_study(sites["SUWON"])
    _, (finding,) = make_result(study, lung, case_score=80, findings=[("nodule", 80)])
    return finding


@sync_to_async
def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


async def open_socket(user=None):
    headers = [ORIGIN]
    if user is not None:
        headers.append((b"cookie", f"sessionid={await session_cookie(user)}".encode()))
    communicator = WebsocketCommunicator(application, "/ws/stats/", headers=headers)
    return communicator, await communicator.connect()


async def test_a_verdict_nudges_the_open_dashboard_of_a_head(open_finding):
    head = await sync_to_async(make_user)("head", role="department_head", all_sites=True)
    reader = await sync_to_async(make_user)("kim", sites=[open_finding.result.study.site])
    socket, (connected, _) = await open_socket(head)
    assert connected
    await sync_to_async(decide)(open_finding, reader, Verdict.ACCEPTED)
    assert json.loads(await socket.receive_from(timeout=3)) == {"kind": "decision"}
    await socket.disconnect()


async def test_a_study_change_at_the_readers_site_reaches_the_dashboard_through_the_worklist_hub(open_finding):
    study = open_finding.result.study
    reader = await sync_to_async(make_user)("kim", sites=[study.site])
    socket, (connected, _) = await open_socket(reader)
    assert connected
    await sync_to_async(workflow.claim_study)(user=reader, study=study)
    assert json.loads(await socket.receive_from(timeout=3)) == {"kind": "claimed"}
    await socket.disconnect()


async def test_an_ai_engine_and_an_anonymous_visitor_are_refused(open_finding):
    engine = await sync_to_async(make_user)("engine", role="ai_engine")
    _socket, (connected, code) = await open_socket(engine)
    assert not connected and code == consumers.CLOSE_FORBIDDEN
    _socket, (connected, code) = await open_socket()
    assert not connected and code == consumers.CLOSE_UNAUTHENTICATED


async def test_nothing_is_sent_while_nothing_changes(open_finding):
    head = await sync_to_async(make_user)("head", role="department_head", all_sites=True)
    socket, (connected, _) = await open_socket(head)
    assert connected
    assert await socket.receive_nothing(timeout=0.5)
    await socket.disconnect()
