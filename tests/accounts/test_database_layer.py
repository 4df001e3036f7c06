"""The embedded default's channel layer (accounts.database_layer): a change made in another
process, as the DICOM listener and the AI dispatcher of ./run make them, reaches the sockets open
in this one; a message of this process reaches its sockets once; old rows are deleted; a garbled
row or an unreadable database is logged and passed over. The other processes are real ones
(manage.py shell), on this run's test database, SQLite or PostgreSQL."""

import asyncio
import json
import logging
import os
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.db import OperationalError, connection, connections
from django.test import Client
from django.utils import timezone
from pydicom.data import get_testdata_file

from accounts import database_layer
from accounts.models import ChannelLayerMessage
from config.asgi import application
from tests.worklist.studies import make_study
from worklist import live_rows

pytestmark = pytest.mark.django_db(transaction=True)

PROJECT = Path(__file__).resolve().parents[2]
ORIGIN = (b"origin", b"http://localhost")
# From the other process's exit (its commit done) to the socket: 250 ms polls on a busy machine.
DELIVERY_BOUND_SECONDS = 3
LAYER = "accounts.database_layer.DatabaseChannelLayer"


@pytest.fixture(autouse=True)
async def _database_layer(settings):
    # The embedded default's layer even where REDIS_URL is set (CI).
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": LAYER}}
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    live_rows.clear()
    yield
    await get_channel_layer().flush()
    live_rows.clear()
    await database_sync_to_async(connections.close_all)()


def quiet_layer() -> database_layer.DatabaseChannelLayer:
    """A layer whose reader never wakes on its own: the test reads when it chooses."""
    return database_layer.DatabaseChannelLayer(poll_seconds=3600)


async def run_in_another_process(snippet: str, **environment: str) -> None:
    """manage.py shell on this test's database, without Redis: the embedded default's layer."""
    env = {**os.environ, "DATABASE_URL": test_database_url(), "REDIS_URL": "", **environment}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "manage.py",
        "shell",
        "--no-imports",
        "-c",
        snippet,
        cwd=PROJECT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, errors = await process.communicate()
    assert process.returncode == 0, errors.decode(errors="replace")[-2000:]


def test_database_url() -> str:
    database = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{database['NAME']}"
    return (
        f"postgres://{database['USER']}@{database['HOST'] or '127.0.0.1'}:{database['PORT'] or 5432}/{database['NAME']}"
    )


test_database_url.__test__ = False  # a helper, not a test


@sync_to_async
def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


async def open_socket(path: str, user) -> WebsocketCommunicator:
    headers = [ORIGIN, (b"cookie", f"sessionid={await session_cookie(user)}".encode())]
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, code = await communicator.connect()
    assert connected, code
    return communicator


def pending(layer, channel: str) -> int:
    queue = layer.channels.get(channel)
    return 0 if queue is None else queue.qsize()


async def test_an_ai_result_finished_in_another_process_reaches_the_open_viewer(sites, suwon_radiologist):
    study = await sync_to_async(make_study)(sites["SUWON"])
    viewer = await open_socket(f"/ws/viewer/studies/{study.study_instance_uid}/ai/", suwon_radiologist)
    # As the AI dispatcher's in-process job records a finished result.
    await run_in_another_process(
        "from worklist import workflow\n"
        "from worklist.models import Study\n"
        f"study = Study.objects.get(pk={study.pk})\n"
        "workflow.record_ai_summary(study=study, ai_status='ready', summary=[{'model': 'Acme', 'score': 80}])\n"
    )
    message = json.loads(await viewer.receive_from(timeout=DELIVERY_BOUND_SECONDS))
    assert message["kind"] == "ai" and message["version"] > study.version
    await viewer.disconnect()


async def test_a_study_ingested_in_another_process_reaches_the_open_worklist(sites, suwon_radiologist, tmp_path):
    worklist = await open_socket("/ws/worklist/", suwon_radiologist)
    # As the DICOM listener stores a study that it received.
    await run_in_another_process(
        "from accounts.models import Site\n"
        "from worklist.ingest import ingest\n"
        f"data = open({str(get_testdata_file('CT_small.dcm'))!r}, 'rb').read()\n"
        "assert ingest(data, site=Site.objects.get(code='SUWON'), source='test').ok\n",
        STORAGE_DIR=str(tmp_path / "other-archive"),
    )
    assert await worklist.receive_from(timeout=DELIVERY_BOUND_SECONDS) == live_rows.REFRESH_ELEMENT
    await worklist.disconnect()


async def test_a_message_of_this_process_reaches_its_members_once():
    layer = database_layer.DatabaseChannelLayer(poll_seconds=0.02)
    channel = await layer.new_channel()
    await layer.group_add("worklist-changes", channel)
    await layer.group_send("worklist-changes", {"type": "study.changed", "study_id": 1})
    row_id = await database_sync_to_async(lambda: ChannelLayerMessage.objects.get().pk)()
    async with asyncio.timeout(10):  # the reader has passed the row
        while layer.last_seen_id < row_id:
            await asyncio.sleep(0.02)
    assert pending(layer, channel) == 1
    assert (await layer.receive(channel))["study_id"] == 1
    await layer.flush()


async def test_a_garbled_row_is_skipped_with_a_log_line_and_the_next_delivered(caplog):
    layer = quiet_layer()
    channel = await layer.new_channel()
    await layer.group_add("worklist-changes", channel)

    def rows_of_another_process():
        make = ChannelLayerMessage.objects.create
        good = '{"type": "study.changed", "study_id": 7}'
        garbled = [
            make(group="worklist-changes", message='{"type": "study.chan', sender="other"),
            make(group="worklist-changes", message='["not", "a", "message"]', sender="other"),
            make(group="not a group!", message=good, sender="other"),
        ]
        make(group="worklist-changes", message=good, sender="other")
        return [row.pk for row in garbled]

    garbled_ids = await database_sync_to_async(rows_of_another_process)()
    with caplog.at_level(logging.WARNING, logger="accounts.database_layer"):
        assert await layer.deliver_new() == 4
    assert (await layer.receive(channel))["study_id"] == 7
    assert pending(layer, channel) == 0
    skipped = [record.getMessage() for record in caplog.records]
    assert skipped == [
        f"channel layer message {row_id} skipped: {error}"
        for row_id, error in zip(garbled_ids, ["JSONDecodeError", "ValueError", "TypeError"], strict=True)
    ]
    await layer.flush()


async def test_an_unreadable_database_is_logged_and_read_again_at_the_next_tick(monkeypatch, caplog):
    layer = quiet_layer()
    channel = await layer.new_channel()
    await layer.group_add("worklist-changes", channel)
    await database_sync_to_async(ChannelLayerMessage.objects.create)(
        group="worklist-changes", message='{"type": "study.changed"}', sender="other"
    )
    read = database_layer._rows_after

    def locked_once(last_seen_id):
        monkeypatch.setattr(database_layer, "_rows_after", read)
        raise OperationalError("database is locked")

    monkeypatch.setattr(database_layer, "_rows_after", locked_once)
    with caplog.at_level(logging.WARNING, logger="accounts.database_layer"):
        assert await layer.deliver_new() == 0
    assert "channel layer messages of other processes not read: OperationalError" in caplog.text
    assert await layer.deliver_new() == 1
    assert pending(layer, channel) == 1
    await layer.flush()


def test_rows_older_than_the_retention_are_deleted_by_the_writers():
    layer = database_layer.DatabaseChannelLayer(retention_seconds=300)
    old = ChannelLayerMessage.objects.create(group="g", message="{}", sender="other")
    recent = ChannelLayerMessage.objects.create(group="g", message="{}", sender="other")
    ChannelLayerMessage.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(seconds=301))
    ChannelLayerMessage.objects.filter(pk=recent.pk).update(created_at=timezone.now() - timedelta(seconds=200))

    layer.write("g", {"type": "study.changed"})
    assert not ChannelLayerMessage.objects.filter(pk=old.pk).exists()
    assert ChannelLayerMessage.objects.count() == 2

    # Once a minute at most: the next write deletes nothing.
    ChannelLayerMessage.objects.filter(pk=recent.pk).update(created_at=timezone.now() - timedelta(seconds=301))
    layer.write("g", {"type": "study.changed"})
    assert ChannelLayerMessage.objects.count() == 3
