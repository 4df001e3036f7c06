"""The viewer's AI socket: who may open it for which study, and that an AI result arriving for the
open study (and only that) nudges the page to re-read its results. Through the same ASGI stack as
config.asgi (Origin check, session authentication)."""

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

from accounts.models import AuditAction, AuditEvent
from ai_overlays import viewer_live
from tests.conftest import make_user
from tests.worklist.studies import make_study
from worklist import live_rows, workflow

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://localhost")
application = AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(viewer_live.websocket_urlpatterns)))


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
async def _fresh_layer_and_cache():
    live_rows.clear()
    await get_channel_layer().flush()
    yield
    live_rows.clear()
    await database_sync_to_async(connections.close_all)()


@pytest.fixture
def suwon_study(sites):
    return make_study(sites["SUWON"])


@pytest.fixture
def other_suwon_study(sites):
    return make_study(sites["SUWON"])


@sync_to_async
def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


async def open_socket(study, user=None, *, origin=ORIGIN):
    headers = [origin]
    if user is not None:
        headers.append((b"cookie", f"sessionid={await session_cookie(user)}".encode()))
    communicator = WebsocketCommunicator(application, viewer_live.live_path(study.study_instance_uid), headers=headers)
    return communicator, await communicator.connect()


@sync_to_async
def ai_result_arrives(study):
    workflow.record_ai_summary(study=study, ai_status="ready", summary=[{"model": "Acme LungNet 2.1", "score": 80}])


async def test_an_ai_result_for_the_open_study_tells_the_page_to_reread(suwon_study, suwon_radiologist):
    socket, (connected, _) = await open_socket(suwon_study, suwon_radiologist)
    assert connected
    await ai_result_arrives(suwon_study)
    message = json.loads(await socket.receive_from(timeout=2))
    assert message["kind"] == "ai" and message["version"] > suwon_study.version
    await socket.disconnect()


async def test_results_for_another_study_and_other_changes_say_nothing(
    suwon_study, other_suwon_study, suwon_radiologist, sites
):
    socket, (connected, _) = await open_socket(suwon_study, suwon_radiologist)
    assert connected
    await ai_result_arrives(other_suwon_study)
    claimer = await sync_to_async(make_user)("choi.suwon", sites=[sites["SUWON"]])
    await sync_to_async(workflow.claim_study)(user=claimer, study=suwon_study)
    assert await socket.receive_nothing(timeout=0.4)
    await socket.disconnect()


async def test_anonymous_visitor_is_refused_with_4401(suwon_study):
    _, answer = await open_socket(suwon_study)
    assert answer == (False, 4401)


async def test_a_radiologist_of_another_site_is_refused_and_audited(suwon_study, icheon_radiologist):
    _, answer = await open_socket(suwon_study, icheon_radiologist)
    assert answer == (False, 4403)
    denial = await sync_to_async(AuditEvent.objects.get)(action=AuditAction.ACCESS_DENIED)
    assert denial.study_uid == suwon_study.study_instance_uid and not denial.success


async def test_an_unknown_study_is_refused_with_4404(sites, suwon_radiologist):
    class Unknown:
        study_instance_uid = "1.2.3.999"

    _, answer = await open_socket(Unknown, suwon_radiologist)
    assert answer == (False, 4404)


async def test_a_data_steward_is_refused_with_4403(suwon_study, data_steward):
    _, answer = await open_socket(suwon_study, data_steward)
    assert answer == (False, 4403)


async def test_a_socket_from_a_foreign_origin_is_refused(suwon_study, suwon_radiologist):
    _, (connected, _) = await open_socket(suwon_study, suwon_radiologist, origin=(b"origin", b"https://evil.example"))
    assert not connected
