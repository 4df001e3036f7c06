"""The pages in a real browser (Debian's chromium through Playwright): log in, see the studies of
one's own site in Korean, open one; screenshots go to shots/ to be looked at."""

import re
from pathlib import Path

import pytest
from channels.testing import ChannelsLiveServerTestCase
from playwright.sync_api import expect
from pydicom.data import get_testdata_file

from tests.conftest import make_user

SHOTS = Path(__file__).resolve().parents[2] / "shots"


@pytest.mark.browser
class LoginAndStudyListTests(ChannelsLiveServerTestCase):
    serve_static = True

    @pytest.fixture(autouse=True)
    def _playwright_page(self, page, tmp_path, settings):
        self.page = page
        settings.STORAGE_DIR = tmp_path / "archive"

    def setUp(self):
        from accounts.models import Site
        from worklist.ingest import ingest

        suwon = Site.objects.create(code="SUWON", name="Suwon Hospital")
        icheon = Site.objects.create(code="ICHEON", name="Icheon Hospital")
        make_user("kim.suwon", sites=[suwon], password="pw-for-tests-1")
        for name, site in (("CT_small.dcm", suwon), ("MR_small.dcm", icheon)):
            with open(get_testdata_file(name), "rb") as handle:
                assert ingest(handle.read(), site=site, source="test").ok

    def log_in(self, language: str):
        page = self.page
        page.context.add_cookies([{"name": "django_language", "value": language, "url": self.live_server_url}])
        page.goto(self.live_server_url + "/")
        page.fill("input[name=username]", "kim.suwon")
        page.fill("input[name=password]", "pw-for-tests-1")
        page.click("button.primary")

    def test_radiologist_logs_in_and_sees_only_her_site_in_korean(self):
        SHOTS.mkdir(exist_ok=True)
        page = self.page
        page.set_viewport_size({"width": 1280, "height": 800})
        self.log_in("ko")
        expect(page.locator("h1")).to_have_text("검사 목록")
        rows = page.locator("table.studies tbody tr")
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text("CT")
        expect(rows.first).to_contain_text("Suwon Hospital")
        page.screenshot(path=str(SHOTS / "study-list-ko.png"), full_page=True)
        rows.first.locator("a.open").click()
        expect(page).to_have_url(re.compile(r"/reading/studies/[0-9.]+/$"))
        page.goto(self.live_server_url + "/studies/" + page.url.rstrip("/").rsplit("/", 1)[1] + "/")
        expect(page.locator("table.series tbody tr")).to_have_count(1)
        page.screenshot(path=str(SHOTS / "study-ko.png"), full_page=True)

    def test_wrong_password_shows_the_error_in_english(self):
        page = self.page
        page.context.add_cookies([{"name": "django_language", "value": "en", "url": self.live_server_url}])
        page.goto(self.live_server_url + "/accounts/login/")
        page.fill("input[name=username]", "kim.suwon")
        page.fill("input[name=password]", "nope")
        page.click("button.primary")
        expect(page.locator(".error")).to_contain_text("didn't match")
        SHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SHOTS / "login-error-en.png"))
