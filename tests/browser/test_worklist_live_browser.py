"""Two radiologists of one site, each with the worklist open in a browser of their own (Debian's
chromium through Playwright): a claim by one shows the reader on the other's screen within a
second, without a reload; a study sent to the DICOM listener appears as a new row on both; a page
whose socket dropped shows, once it has reconnected, what changed while it was away."""

import gc
import re
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from channels.testing import ChannelsLiveServerTestCase
from django.conf import settings
from django.db import connections
from django.test import Client
from playwright.sync_api import Page, WebSocketRoute, expect
from pydicom.data import get_testdata_file
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from pynetdicom import AE, evt

from tests.conftest import make_user
from tests.worklist.tiny_datasets import ct_dataset
from worklist.dimse import listener as make_listener
from worklist.ingest import ingest
from worklist.models import RemoteAE, Study

SHOTS = Path(__file__).resolve().parents[2] / "shots"
OUR_AE, SENDER_AE = "READINGWS", "SUWON_CT1"
LIVE_TIMEOUT_MILLISECONDS = 1_000
WORKLIST_SOCKET = re.compile(r"/ws/worklist/$")
# A dropped socket comes back after a random wait of up to a second (htmx's ws extension, first
# retry), then the page re-reads its rows a quarter of a second later (static/js/worklist-live.js).
RECONNECT_TIMEOUT_MILLISECONDS = 5_000


def send_over_dicom(port: int, dataset) -> int:
    """C-STORE one dataset with pynetdicom, as a modality of Suwon would; the response status."""
    dataset.file_meta = FileMetaDataset()
    dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ae = AE(ae_title=SENDER_AE)
    ae.add_requested_context(dataset.SOPClassUID, ExplicitVRLittleEndian)

    def no_delay(event):
        event.assoc.dul.socket.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    association = ae.associate("127.0.0.1", port, ae_title=OUR_AE, evt_handlers=[(evt.EVT_CONN_OPEN, no_delay)])
    assert association.is_established
    try:
        return int(association.send_c_store(dataset).Status)
    finally:
        association.release()


class SocketTap:
    """A page's live sockets routed through Playwright, as a flaky network would treat them: what
    the server sends can be held back while the connection stays up, and a socket can be dropped
    (close code 1006, abnormal closure, after which the page reconnects by itself)."""

    def __init__(self):
        self.connections: list[tuple[WebSocketRoute, WebSocketRoute]] = []  # (page side, server side)
        self.delivering = True
        self.held_back: list[str | bytes] = []

    def route(self, page_side: WebSocketRoute) -> None:
        server_side = page_side.connect_to_server()
        server_side.on_message(lambda message: self._from_server(page_side, message))
        self.connections.append((page_side, server_side))

    def _from_server(self, page_side: WebSocketRoute, message: str | bytes) -> None:
        if self.delivering:
            page_side.send(message)
        else:
            self.held_back.append(message)

    def wait_until_held_back(self, page: Page, fragment: str, timeout_seconds: float = 10) -> None:
        """Until a message containing `fragment` was held back; the page's own waits let
        Playwright deliver the server's messages to route()."""
        deadline = time.monotonic() + timeout_seconds
        while not any(fragment in str(message) for message in self.held_back):
            assert time.monotonic() < deadline, f"no message with {fragment!r} reached the page's socket"
            page.wait_for_timeout(50)

    def drop(self) -> None:
        """The latest connection fails: the page sees an abnormal closure, the server a close."""
        page_side, server_side = self.connections[-1]
        server_side.on_close(lambda code, reason: None)  # the page hears 1006, not the server's answer
        page_side.close(code=1006, reason="connection lost")
        server_side.close()


@pytest.mark.browser
class WorklistLiveTests(ChannelsLiveServerTestCase):
    serve_static = True

    @classmethod
    def setUpClass(cls):
        # daphne is forked next: a SQLite connection open across fork() leaves the child reading
        # through the parent's WAL index, which goes stale once the parent closes and reopens the
        # database (the next test then saw none of its own rows). PostgreSQL does not care.
        connections.close_all()
        super().setUpClass()

    @pytest.fixture(autouse=True)
    def _browser(self, browser):
        self.browser = browser

    def setUp(self):
        from accounts.models import Site

        self.suwon = Site.objects.create(code="SUWON", name="Suwon")
        self.kim = make_user("kim.suwon", sites=[self.suwon])
        self.choi = make_user("choi.suwon", sites=[self.suwon])
        self.kim.first_name, self.kim.last_name = "Minjun", "Kim"
        self.choi.first_name, self.choi.last_name = "Seoyeon", "Choi"
        self.kim.save()
        self.choi.save()
        with open(get_testdata_file("CT_small.dcm"), "rb") as handle:
            result = ingest(handle.read(), site=self.suwon, source="test")
        self.study = Study.objects.get(study_instance_uid=result.study_instance_uid)

    def open_worklist(self, user, *, socket_tap: SocketTap | None = None):
        """The worklist in a browser context of the user's own, once its live socket is open."""
        client = Client()
        client.force_login(user)
        context = self.browser.new_context(viewport={"width": 1280, "height": 800})
        self.addCleanup(context.close)
        context.add_cookies(
            [
                {"name": "sessionid", "value": client.cookies["sessionid"].value, "url": self.live_server_url},
                {"name": "django_language", "value": "en", "url": self.live_server_url},
            ]
        )
        page = context.new_page()
        if socket_tap is not None:
            page.route_web_socket(WORKLIST_SOCKET, socket_tap.route)
        page.goto(self.live_server_url + "/")
        expect(page.locator(f"#study-{self.study.pk}")).to_be_visible()
        expect(page.locator("#worklist-live")).to_have_attribute("data-state", "open", timeout=10_000)
        return page

    def test_a_claim_shows_the_reader_on_the_colleagues_screen_within_a_second(self):
        SHOTS.mkdir(exist_ok=True)
        kim, choi = self.open_worklist(self.kim), self.open_worklist(self.choi)
        row_on_kims_screen = kim.locator(f"#study-{self.study.pk}")
        expect(row_on_kims_screen.locator("td.reader")).to_have_text("")

        claim_button = choi.locator(f"#study-{self.study.pk} button.claim")
        expect(claim_button).to_be_visible()
        claimed_at = time.monotonic()
        claim_button.click()
        expect(row_on_kims_screen.locator("td.reader")).to_have_text("Seoyeon Choi", timeout=LIVE_TIMEOUT_MILLISECONDS)
        print(f"claim shown on the colleague's screen {(time.monotonic() - claimed_at) * 1000:.0f} ms after the click")
        # Swapped in place as a row of the same table, and the page never reloaded.
        assert kim.evaluate(f"document.getElementById('study-{self.study.pk}').parentElement.id") == "worklist-rows"
        assert row_on_kims_screen.locator("td").count() == kim.locator("table thead th").count()
        assert kim.evaluate("performance.getEntriesByType('navigation').length") == 1
        kim.screenshot(path=str(SHOTS / "worklist-live-claimed-by-colleague.png"), full_page=True)
        choi.screenshot(path=str(SHOTS / "worklist-live-claimer.png"), full_page=True)

    def test_a_study_sent_to_the_dicom_listener_appears_on_both_screens(self):
        if settings.CHANNEL_LAYERS["default"]["BACKEND"] == "channels.layers.InMemoryChannelLayer":
            pytest.skip(
                "the listener ingests in the test process, which the in-memory channel layer does not "
                "connect to daphne's forked process: use the default layer or set REDIS_URL"
            )
        SHOTS.mkdir(exist_ok=True)
        kim, choi = self.open_worklist(self.kim), self.open_worklist(self.choi)
        new_row = self.store_a_new_study_over_dicom()
        for page in (kim, choi):
            expect(page.locator(f"#study-{new_row}")).to_be_visible(timeout=3_000)
            expect(page.locator("#worklist-rows tr.study-row")).to_have_count(2)
            assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
        kim.screenshot(path=str(SHOTS / "worklist-live-new-study.png"), full_page=True)

    def test_a_page_whose_socket_dropped_shows_what_changed_meanwhile_once_reconnected(self):
        SHOTS.mkdir(exist_ok=True)
        tap = SocketTap()
        kim, choi = self.open_worklist(self.kim, socket_tap=tap), self.open_worklist(self.choi)
        reader_on_kims_screen = kim.locator(f"#study-{self.study.pk} td.reader")
        expect(reader_on_kims_screen).to_have_text("")

        # From here on Kim's socket delivers nothing, before and after it reconnects: the claim
        # can reach her screen only through the re-read that follows the reconnect.
        tap.delivering = False
        choi.locator(f"#study-{self.study.pk} button.claim").click()
        expect(choi.locator(f"#study-{self.study.pk} button.release")).to_be_visible()
        tap.wait_until_held_back(kim, f'id="study-{self.study.pk}"')
        expect(reader_on_kims_screen).to_have_text("")
        kim.screenshot(path=str(SHOTS / "worklist-live-change-missed-by-a-dropped-socket.png"), full_page=True)

        tap.drop()
        expect(reader_on_kims_screen).to_have_text("Seoyeon Choi", timeout=RECONNECT_TIMEOUT_MILLISECONDS)
        assert len(tap.connections) == 2
        expect(kim.locator("#worklist-live")).to_have_attribute("data-state", "open")
        expect(kim.locator(f"#study-{self.study.pk} td.status")).to_have_text("In reading")
        assert kim.evaluate("performance.getEntriesByType('navigation').length") == 1
        kim.screenshot(path=str(SHOTS / "worklist-live-re-read-after-reconnect.png"), full_page=True)

    def store_a_new_study_over_dicom(self) -> int:
        RemoteAE.objects.create(ae_title=SENDER_AE, site=self.suwon)
        server = make_listener(ae_title=OUR_AE, bind="127.0.0.1", port=0)
        server.start()
        try:
            dataset = ct_dataset(study_uid=generate_uid())
            dataset.PatientName, dataset.PatientID = "Lee^Jiwoo", "P-LIVE-2"
            with ThreadPoolExecutor(1) as pool:
                assert pool.submit(send_over_dicom, server.port, dataset).result(timeout=30) == 0x0000
        finally:
            server.stop()
            # The association's thread has ended, and with it the owner of its database connection;
            # collected now, PostgreSQL sees it closed before the test database is dropped.
            gc.collect()
        return Study.objects.get(study_instance_uid=dataset.StudyInstanceUID).pk
