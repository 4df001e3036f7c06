"""The dashboard's socket: who may open it, and that a verdict or a signature landing nudges the
open page to re-read its figures: pushed after the commit, nothing read on a timer. Through the same
ASGI stack as config.asgi."""

import json

import pytest
from asgiref.sync import sync_to_async
from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.routing import URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from channels.testing import WebsocketCommunicator
from django.db import connections, transaction
from django.test import Client

from reading import decisions
from reading.models import FindingDecision, Verdict
from stats import consumers, live
from tests.ai_overlays.factories import make_model
from tests.conftest import make_user
from tests.stats.builders import add_miss, decide, make_result, make_study
from worklist import live_rows, workflow

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://localhost")
application = AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(consumers.websocket_urlpatterns)))


@pytest.fixture(autouse=True)
def _fast(settings, monkeypatch):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    monkeypatch.setattr(live, "NUDGE_COALESCE_SECONDS", 0.05)


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


class RolledBack(Exception):
    pass


@sync_to_async
def claimed_case(finding):
    """The finding's study claimed by a Suwon radiologist, as the viewer needs before a verdict."""
    study = finding.result.study
    reader = make_user("kim", sites=[study.site])
    workflow.claim_study(user=reader, study=study)
    return reader, study


async def open_dashboard_after_the_claim(user):
    """Opened after the claim was announced, so that only what follows reaches it."""
    socket, (connected, _) = await open_socket(user)
    assert connected
    return socket


async def test_a_verdict_saved_by_the_reading_code_is_pushed_once_to_the_open_dashboard(open_finding):
    reader, study = await claimed_case(open_finding)
    socket = await open_dashboard_after_the_claim(reader)
    await sync_to_async(decisions.decide_finding)(
        user=reader, study=study, finding=open_finding, verdict=Verdict.ACCEPTED, expected_revision=0
    )
    assert json.loads(await socket.receive_from(timeout=3)) == {"kind": "decision"}
    assert await socket.receive_nothing(timeout=0.3)
    await socket.disconnect()


async def test_a_reader_added_finding_nudges_the_open_dashboard(open_finding):
    reader, study = await claimed_case(open_finding)
    socket = await open_dashboard_after_the_claim(reader)
    await sync_to_async(add_miss)(study, reader)
    assert json.loads(await socket.receive_from(timeout=3)) == {"kind": "reader_finding"}
    await socket.disconnect()


async def test_a_rolled_back_verdict_sends_nothing(open_finding):
    reader, study = await claimed_case(open_finding)
    socket = await open_dashboard_after_the_claim(reader)

    @sync_to_async
    def decide_then_fail():
        with transaction.atomic():
            decisions.decide_finding(
                user=reader, study=study, finding=open_finding, verdict=Verdict.ACCEPTED, expected_revision=0
            )
            raise RolledBack

    with pytest.raises(RolledBack):
        await decide_then_fail()
    assert await socket.receive_nothing(timeout=0.5)
    assert not await FindingDecision.objects.filter(finding=open_finding).aexists()
    await socket.disconnect()


async def test_nothing_reads_the_tables_on_a_timer(open_finding):
    """A row written without the hooks (no post_save) is not noticed: the dashboard is pushed, not polling."""
    reader, study = await claimed_case(open_finding)
    socket = await open_dashboard_after_the_claim(reader)
    await FindingDecision.objects.abulk_create(
        [FindingDecision(study=study, finding=open_finding, revision=1, verdict=Verdict.ACCEPTED, decided_by=reader)]
    )
    assert await socket.receive_nothing(timeout=0.5)
    await socket.disconnect()


async def test_a_verdict_at_another_site_does_not_nudge_a_dashboard_limited_to_its_own(open_finding, sites):
    reader, study = await claimed_case(open_finding)
    icheon = await sync_to_async(make_user)("lee", sites=[sites["ICHEON"]])
    socket = await open_dashboard_after_the_claim(icheon)
    await sync_to_async(decisions.decide_finding)(
        user=reader, study=study, finding=open_finding, verdict=Verdict.ACCEPTED, expected_revision=0
    )
    assert await socket.receive_nothing(timeout=0.5)
    await socket.disconnect()


async def test_a_burst_of_verdicts_becomes_one_nudge(open_finding, monkeypatch):
    monkeypatch.setattr(live, "NUDGE_COALESCE_SECONDS", 1.0)
    study = open_finding.result.study
    lung = open_finding.result.ai_model
    _, more = await sync_to_async(make_result)(study, lung, case_score=70, findings=[("nodule", 70), ("mass", 60)])
    reader, study = await claimed_case(open_finding)
    socket = await open_dashboard_after_the_claim(reader)

    @sync_to_async
    def go_through_the_findings():
        # One commit for all three: their announcements reach the socket together.
        with transaction.atomic():
            for finding in (open_finding, *more):
                decisions.decide_finding(
                    user=reader, study=study, finding=finding, verdict=Verdict.ACCEPTED, expected_revision=0
                )

    await go_through_the_findings()
    assert json.loads(await socket.receive_from(timeout=3)) == {"kind": "decision"}
    assert await socket.receive_nothing(timeout=0.5)
    await socket.disconnect()
