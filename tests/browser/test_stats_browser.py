"""A department head at the agreement dashboard in Debian's chromium: filters by radiologist,
drills down from a number to its studies and on to the viewer, downloads a table as CSV, and sees
a verdict made meanwhile move the figure without a reload."""

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from channels.testing import ChannelsLiveServerTestCase
from django.db import connections
from django.test import Client
from playwright.sync_api import expect

from reading.models import RejectionReason, Verdict
from tests.ai_overlays.factories import make_model
from tests.conftest import make_user
from tests.stats.builders import decide, make_result, make_study, sign

SHOTS = Path(__file__).resolve().parents[2] / "shots"
LIVE_TIMEOUT_MILLISECONDS = 8_000


@pytest.mark.browser
class StatsDashboardTests(ChannelsLiveServerTestCase):
    serve_static = True

    @classmethod
    def setUpClass(cls):
        # daphne is forked next: see test_worklist_live_browser.py for why connections are closed.
        connections.close_all()
        super().setUpClass()

    @pytest.fixture(autouse=True)
    def _browser(self, browser):
        self.browser = browser

    def setUp(self):
        from accounts.models import Site

        suwon = Site.objects.create(code="SUWON", name="Suwon")
        self.kim = make_user("kim.suwon", sites=[suwon])
        self.lee = make_user("lee.suwon", sites=[suwon])
        self.kim.first_name, self.kim.last_name = "Minjun", "Kim"
        self.kim.save()
        self.head = make_user("head", role="department_head", all_sites=True)
        lung = make_model("Acme", "LungNet", "1.0", clinical_area="lung", operating_threshold=50)
        for number in range(12):
            study = make_study(suwon)
            _, findings = make_result(study, lung, case_score=40 + 5 * number, findings=[("nodule", 40 + 5 * number)])
            if number % 4 == 0:
                decide(findings[0], self.kim, Verdict.REJECTED, RejectionReason.ARTEFACT)
            else:
                decide(findings[0], self.kim if number % 2 else self.lee, Verdict.ACCEPTED)
            sign(study, self.kim if number % 2 else self.lee)
        self.open_study = make_study(suwon)
        _, (self.open_finding,) = make_result(self.open_study, lung, case_score=88, findings=[("nodule", 88)])

    def open_dashboard(self, user, path="/stats/"):
        client = Client()
        client.force_login(user)
        context = self.browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
        self.addCleanup(context.close)
        context.add_cookies(
            [
                {"name": "sessionid", "value": client.cookies["sessionid"].value, "url": self.live_server_url},
                {"name": "django_language", "value": "en", "url": self.live_server_url},
            ]
        )
        page = context.new_page()
        self.errors = []
        page.on("console", lambda message: message.type == "error" and self.errors.append(message.text))
        page.goto(self.live_server_url + path)
        expect(page.locator("#stats-live")).to_have_attribute("data-state", "open", timeout=10_000)
        return page

    def test_a_head_filters_drills_down_exports_and_sees_a_verdict_arrive(self):
        SHOTS.mkdir(exist_ok=True)
        page = self.open_dashboard(self.head)
        accepted = page.locator(".stat-card").first.locator(".stat-count")
        expect(accepted).to_have_text("9")
        expect(page.locator("#figure-reasons .chart .main-svg").first).to_be_visible()
        page.screenshot(path=str(SHOTS / "stats-dashboard.png"))
        page.screenshot(path=str(SHOTS / "stats-dashboard-full.png"), full_page=True)
        page.set_viewport_size({"width": 3840, "height": 2160})
        expect(page.locator("#figure-reasons .chart .main-svg").first).to_be_visible()
        page.wait_for_timeout(300)  # Plotly redraws on the resize
        page.screenshot(path=str(SHOTS / "stats-dashboard-4k.png"))
        page.set_viewport_size({"width": 1280, "height": 800})

        # Filter: Kim's figures only, in the address bar for a bookmark.
        page.select_option("select[name=reader]", str(self.kim.pk))
        page.get_by_role("button", name="Show").click()
        page.wait_for_url(f"**/stats/?reader={self.kim.pk}&by=week")
        expect(accepted).to_have_text("6")

        # Download the rejection reasons as CSV.
        with page.expect_download() as download:
            page.locator("#figure-reasons a.export-csv").click()
        csv_text = Path(download.value.path()).read_text(encoding="utf-8-sig")
        assert csv_text.splitlines()[0].startswith("Reason,")
        assert "False positive: artefact,3," in csv_text

        # Drill down from the accepted count to its studies, then on to the viewer.
        accepted.locator("a").click()
        expect(page.locator("table.drill-down tbody tr")).to_have_count(6)
        page.screenshot(path=str(SHOTS / "stats-drill-down.png"))
        page.locator("a.open-viewer").first.click()
        page.wait_for_url("**/reading/studies/**")

        # Back at the dashboard: a verdict made meanwhile moves the figure, no reload.
        page = self.open_dashboard(self.head)
        accepted = page.locator(".stat-card").first.locator(".stat-count")
        expect(accepted).to_have_text("9")
        with ThreadPoolExecutor(1) as pool:  # Playwright holds this thread's event loop
            pool.submit(decide, self.open_finding, self.lee, Verdict.ACCEPTED).result(timeout=10)
        expect(accepted).to_have_text("10", timeout=LIVE_TIMEOUT_MILLISECONDS)
        assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
        page.screenshot(path=str(SHOTS / "stats-dashboard-after-live-verdict.png"))
        # plotly.js tries to add its stylesheet inline, which the CSP refuses: the same rules come from
        # /stats/plotly.css. Nothing else may be refused.
        refused = [error for error in self.errors if "Content Security Policy" in error]
        assert all("Applying inline style" in error for error in refused), refused
