"""The worklist's WebSocket: who may open it, which changes reach whom, what they look like, what
one change costs with many sockets open, that a socket whose browser stopped reading is closed
without holding up the others, and that a broken channel layer never breaks a claim.
Runs on the Redis channel layer when REDIS_URL is set, on the embedded default's database layer otherwise."""

import logging
import re

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from channels_redis.core import RedisChannelLayer
from django.db import connections
from django.test import Client
from django.utils import translation
from pydicom.data import get_testdata_file

from accounts import user_sockets
from accounts.socket_backlog import MAX_UNSENT_BYTES, BoundedSends
from config.asgi import application
from tests.conftest import free_port, make_user
from worklist import live, live_hub, live_rows, workflow
from worklist.ingest import ingest
from worklist.models import Study, StudyStatus

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://localhost")
READER_CELL = re.compile(r'<td class="reader">(.*?)</td>', re.DOTALL)


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
async def _fresh_layer_and_cache():
    # Rows are cached by (study id, version): ids come back after a flush, so must the cache.
    live_rows.clear()
    await get_channel_layer().flush()
    yield
    live_rows.clear()
    # The consumers' database thread outlives the test: with CONN_MAX_AGE its PostgreSQL session
    # would still be open when the test database is dropped.
    await database_sync_to_async(connections.close_all)()


@pytest.fixture
def suwon_study(sites):
    return ingest_sample("CT_small.dcm", sites["SUWON"])


@pytest.fixture
def icheon_study(sites):
    return ingest_sample("MR_small.dcm", sites["ICHEON"])


@pytest.fixture
def claimer(sites):
    user = make_user("choi.suwon", sites=[sites["SUWON"]])
    user.first_name, user.last_name = "Seoyeon", "Choi"
    user.save()
    return user


def ingest_sample(name: str, site) -> Study:
    with open(get_testdata_file(name), "rb") as handle:
        result = ingest(handle.read(), site=site, source="test")
    assert result.ok
    return Study.objects.get(study_instance_uid=result.study_instance_uid)


@sync_to_async
def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


async def open_socket(user=None, *, language: str = "", origin: tuple[bytes, bytes] = ORIGIN, served_by=application):
    """A worklist socket as the browser of `user` opens it; returns the communicator and its answer."""
    cookies = []
    if user is not None:
        cookies.append(f"sessionid={await session_cookie(user)}")
    if language:
        cookies.append(f"django_language={language}")
    headers = [origin, (b"cookie", "; ".join(cookies).encode())]
    communicator = WebsocketCommunicator(served_by, "/ws/worklist/", headers=headers)
    return communicator, await communicator.connect()


async def connected_socket(user, *, language: str = "", served_by=application) -> WebsocketCommunicator:
    communicator, (connected, code) = await open_socket(user, language=language, served_by=served_by)
    assert connected, code
    return communicator


claim = sync_to_async(workflow.claim_study)


async def test_anonymous_visitor_is_refused_with_4401():
    communicator, answer = await open_socket()
    assert answer == (False, 4401)


async def test_data_steward_without_worklist_access_is_refused_with_4403(data_steward):
    communicator, answer = await open_socket(data_steward)
    assert answer == (False, 4403)


async def test_socket_from_a_foreign_origin_is_refused(suwon_radiologist):
    communicator, (connected, _) = await open_socket(suwon_radiologist, origin=(b"origin", b"https://evil.example"))
    assert not connected


async def test_claim_by_a_colleague_updates_the_row_with_the_readers_name(suwon_study, suwon_radiologist, claimer):
    socket = await connected_socket(suwon_radiologist)
    await claim(user=claimer, study=suwon_study)
    html = await socket.receive_from(timeout=2)
    assert html.startswith(f'<tr id="study-{suwon_study.pk}"')
    assert 'hx-swap-oob="true"' in html.split(">", 1)[0]
    assert "Seoyeon Choi" in READER_CELL.search(html).group(1)
    assert f'data-status="{StudyStatus.IN_READING}"' in html
    await socket.disconnect()


async def test_icheon_radiologist_receives_nothing_of_suwon_and_the_hub_receives_both(
    sites, suwon_study, icheon_study, icheon_radiologist, hub_radiologist, claimer
):
    icheon = await connected_socket(icheon_radiologist)
    hub = await connected_socket(hub_radiologist)
    await claim(user=claimer, study=suwon_study)
    assert f'id="study-{suwon_study.pk}"' in await hub.receive_from(timeout=2)
    assert await icheon.receive_nothing(timeout=0.3)

    icheon_reader = await sync_to_async(make_user)("jung.icheon", sites=[sites["ICHEON"]])
    await claim(user=icheon_reader, study=icheon_study)
    assert f'id="study-{icheon_study.pk}"' in await hub.receive_from(timeout=2)
    assert f'id="study-{icheon_study.pk}"' in await icheon.receive_from(timeout=2)
    assert await hub.receive_nothing(timeout=0.3)  # once, though the hub hears every site
    await icheon.disconnect()
    await hub.disconnect()


async def test_an_event_naming_the_wrong_site_is_dropped_once_the_study_is_read(icheon_study, suwon_radiologist):
    socket = await connected_socket(suwon_radiologist)
    suwon_site_id = (await sync_to_async(suwon_radiologist.site_ids)()).pop()
    await get_channel_layer().group_send(
        live.CHANGES_GROUP,
        {"type": "study.changed", "study_id": icheon_study.pk, "site_id": suwon_site_id,
         "version": icheon_study.version, "kind": "claimed"},
    )  # fmt: skip
    assert await socket.receive_nothing(timeout=0.3)
    await socket.disconnect()


async def test_a_new_study_makes_the_page_refetch_its_rows_instead_of_a_guessed_row(sites, suwon_radiologist):
    socket = await connected_socket(suwon_radiologist)
    await sync_to_async(ingest_sample)("CT_small.dcm", sites["SUWON"])
    assert await socket.receive_from(timeout=2) == live_rows.REFRESH_ELEMENT
    assert await socket.receive_nothing(timeout=0.3)
    await socket.disconnect()


async def test_one_change_costs_one_query_and_one_render_per_language_for_many_sockets(
    monkeypatch, sites, suwon_study, claimer
):
    fetches, renders = [], []
    real_fetch, real_render = live_hub.studies_for_rows, live_rows.render_study_row

    def counting_fetch(queryset):
        fetches.append(1)
        return real_fetch(queryset)

    def counting_render(study, **options):
        renders.append(translation.get_language())
        return real_render(study, **options)

    monkeypatch.setattr(live_hub, "studies_for_rows", counting_fetch)
    monkeypatch.setattr(live_rows, "render_study_row", counting_render)
    viewers = [await sync_to_async(make_user)(f"radiologist{number}", sites=[sites["SUWON"]]) for number in range(8)]
    sockets = [
        await connected_socket(viewer, language="en" if number % 2 else "ko") for number, viewer in enumerate(viewers)
    ]
    await claim(user=claimer, study=suwon_study)
    received = [await socket.receive_from(timeout=2) for socket in sockets]
    assert all("Seoyeon Choi" in READER_CELL.search(html).group(1) for html in received)
    assert len(fetches) == 1
    assert sorted(renders) == ["en", "ko"]
    for socket in sockets:
        await socket.disconnect()


async def test_after_the_channel_layer_comes_back_every_page_rereads_its_rows(
    monkeypatch, suwon_study, suwon_radiologist, claimer
):
    layer = get_channel_layer()
    real_receive, outage = layer.receive, []

    async def receive_through_an_outage(channel):
        if outage and outage.pop():
            raise ConnectionError("Redis restarting")
        return await real_receive(channel)

    monkeypatch.setattr(live_hub, "RETRY_SECONDS", [0.05])
    socket = await connected_socket(suwon_radiologist)
    monkeypatch.setattr(layer, "receive", receive_through_an_outage)
    outage.append(True)  # the hub's next receive, once it has delivered the claim below
    await claim(user=claimer, study=suwon_study)
    assert f'id="study-{suwon_study.pk}"' in await socket.receive_from(timeout=2)
    assert await socket.receive_from(timeout=2) == live_rows.REFRESH_ELEMENT
    await socket.disconnect()


release = sync_to_async(workflow.release_study)


def hub_connection() -> tuple[object, bool]:
    """Run on the hub's database thread: its DB-API connection, and whether a transaction is open on it."""
    raw = connections["default"].connection
    if connections["default"].vendor == "postgresql":
        from psycopg.pq import TransactionStatus

        return raw, raw.info.transaction_status != TransactionStatus.IDLE
    return raw, raw.in_transaction


def end_hub_session_underneath() -> None:
    """Run on the hub's database thread: what a database restart does to its connection, unknown to Django."""
    database = connections["default"]
    if database.vendor == "postgresql":
        # From a session of its own: the server ends the hub's, as a restart does.
        killer = connections.create_connection("default")
        try:
            with killer.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(%s)", [database.connection.info.backend_pid])
        finally:
            killer.close()
    else:
        database.connection.close()


async def test_the_hub_reads_every_change_on_one_kept_connection_with_no_transaction_left_open(
    suwon_study, suwon_radiologist, claimer
):
    socket = await connected_socket(suwon_radiologist)
    await claim(user=claimer, study=suwon_study)
    assert "Seoyeon Choi" in READER_CELL.search(await socket.receive_from(timeout=2)).group(1)
    first, in_transaction = await live_hub.hub().database.run(hub_connection)
    assert not in_transaction  # a transaction left open would hold back SQLite's WAL checkpoints
    await release(user=claimer, study=suwon_study)
    assert "Seoyeon Choi" not in READER_CELL.search(await socket.receive_from(timeout=2)).group(1)
    second, _ = await live_hub.hub().database.run(hub_connection)
    assert second is first
    await socket.disconnect()


async def test_a_change_after_the_database_dropped_the_hubs_connection_is_still_delivered(
    suwon_study, suwon_radiologist, claimer
):
    socket = await connected_socket(suwon_radiologist)
    await claim(user=claimer, study=suwon_study)
    assert f'id="study-{suwon_study.pk}"' in await socket.receive_from(timeout=2)
    await live_hub.hub().database.run(end_hub_session_underneath)
    await release(user=claimer, study=suwon_study)
    html = await socket.receive_from(timeout=2)
    assert html.startswith(f'<tr id="study-{suwon_study.pk}"')  # the row itself, not a resync
    assert "Seoyeon Choi" not in READER_CELL.search(html).group(1)
    await claim(user=claimer, study=suwon_study)
    assert "Seoyeon Choi" in READER_CELL.search(await socket.receive_from(timeout=2)).group(1)
    await socket.disconnect()


async def test_disconnect_user_closes_every_open_worklist_of_that_user(suwon_radiologist, hub_radiologist):
    first, second = await connected_socket(suwon_radiologist), await connected_socket(suwon_radiologist)
    other = await connected_socket(hub_radiologist)
    await sync_to_async(live.disconnect_user)(suwon_radiologist.pk)
    assert await first.receive_output(timeout=2) == {"type": "websocket.close", "code": 4403}
    assert await second.receive_output(timeout=2) == {"type": "websocket.close", "code": 4403}
    assert await other.receive_nothing(timeout=0.3)
    await other.disconnect()


async def test_a_worklist_whose_browser_stopped_reading_is_closed_to_reconnect_and_the_others_still_get_the_row(
    sites, suwon_study, suwon_radiologist, hub_radiologist, claimer
):
    behind = {"bytes": 0}

    class ConnectionOfAFrozenTab:
        """daphne's connection as BoundedSends sees it, with the backlog this test sets."""

        def __init__(self, send):
            self.send = send

        def unsent_bytes(self) -> int:
            return behind["bytes"]

        async def close_to_retry(self) -> None:
            await self.send({"type": "websocket.close", "code": 1013})

    frozen = await connected_socket(
        suwon_radiologist, served_by=BoundedSends(application, connection_of=ConnectionOfAFrozenTab)
    )
    reading = await connected_socket(hub_radiologist)
    behind["bytes"] = MAX_UNSENT_BYTES + 1
    await claim(user=claimer, study=suwon_study)
    assert f'id="study-{suwon_study.pk}"' in await reading.receive_from(timeout=2)
    # 1013: the page reconnects after a pause and re-reads its rows (static/js/worklist-live.js).
    assert await frozen.receive_output(timeout=2) == {"type": "websocket.close", "code": 1013}

    await sync_to_async(ingest_sample)("MR_small.dcm", sites["SUWON"])
    assert await reading.receive_from(timeout=2) == live_rows.REFRESH_ELEMENT
    assert await frozen.receive_nothing(timeout=0.3)
    await reading.disconnect()


async def test_a_deactivated_user_cannot_open_the_worklist_again(suwon_radiologist):
    suwon_radiologist.is_active = False
    await sync_to_async(suwon_radiologist.save)()
    communicator, answer = await open_socket(suwon_radiologist)
    assert answer == (False, 4401)


def unreachable_redis_layer() -> RedisChannelLayer:
    return RedisChannelLayer(hosts=[f"redis://127.0.0.1:{free_port()}/0"], prefix="live-unreachable")


class BrokenLayer:
    async def group_send(self, group, message):
        raise ConnectionError("channel layer down")


@pytest.mark.parametrize("layer", [unreachable_redis_layer, BrokenLayer], ids=["redis-closed-port", "raising-layer"])
def test_a_claim_succeeds_when_the_channel_layer_is_down(layer, monkeypatch, caplog, suwon_study, claimer):
    monkeypatch.setattr(user_sockets, "get_channel_layer", layer)
    with caplog.at_level(logging.WARNING, logger="accounts.user_sockets"):
        workflow.claim_study(user=claimer, study=suwon_study)
    suwon_study.refresh_from_db()
    assert (suwon_study.status, suwon_study.claimed_by) == (StudyStatus.IN_READING, claimer)
    assert f"live update study.changed to {live.CHANGES_GROUP} not sent" in caplog.text


def test_an_ingest_succeeds_when_redis_is_down(monkeypatch, caplog, sites):
    monkeypatch.setattr(user_sockets, "get_channel_layer", unreachable_redis_layer)
    with caplog.at_level(logging.WARNING, logger="accounts.user_sockets"):
        study = ingest_sample("CT_small.dcm", sites["SUWON"])
    assert study.instance_count == 1
    assert "not sent: ConnectionError" in caplog.text or "not sent: OSError" in caplog.text
