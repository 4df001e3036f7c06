"""The whole read in Debian's chromium: a radiologist claims a study on the worklist, opens it,
decides every AI finding by keyboard (accept, reject with a reason, correct a box by dragging its
corner), draws a finding the AI missed, fills the report and signs; a colleague's worklist, open all
along, shows the study read without a reload. And a radiologist without the claim sees it read-only.
Screenshots: shots/reading-*.png."""

from concurrent.futures import ThreadPoolExecutor

from playwright.sync_api import expect

from reading.models import FindingDecision, ReaderFinding, Report, ReportStatus
from tests.browser.test_viewer_browser import SHOTS, ViewerBrowserCase
from tests.conftest import make_user
from tests.reading.reading_setup import claimed_by, reading_case
from worklist.models import Study, StudyStatus

CORRECTED_CORNER = (10.0, 12.0)  # the box [1, 1, 6.5, 7] gets its bottom-right corner dragged here
MISSED_BOX = (9.0, 9.0, 14.0, 14.0)


def in_thread(function, *args, **kwargs):
    """Playwright's sync API holds this thread's event loop, which the live announcements need."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(function, *args, **kwargs).result(timeout=60)


def latest_decisions(case) -> dict[int, FindingDecision]:
    latest = {}
    for decision in FindingDecision.objects.filter(study=case.study).order_by("finding_id", "revision"):
        latest[decision.finding_id] = decision
    return latest


class ReadingBrowserCase(ViewerBrowserCase):
    def setUp(self):
        super().setUp()
        self.reader.first_name, self.reader.last_name = "Minjun", "Kim"
        self.reader.save()
        self.colleague = make_user("choi.suwon", sites=[self.suwon])
        self.colleague.first_name, self.colleague.last_name = "Seoyeon", "Choi"
        self.colleague.save()
        with self.settings(STORAGE_DIR=self.archive):
            self.case = in_thread(reading_case, self.suwon)

    def finding(self, index: int):
        return self.page.locator("#ai-models .ai-findings > li").nth(index)

    def open_reading(self):
        page = self.page
        page.goto(f"{self.live_server_url}/reading/studies/{self.case.uid}/?renderer=webgl2")
        expect(page.locator("#viewer")).to_have_attribute("data-all-loaded", "true", timeout=15_000)
        expect(page.locator("#ai-panel")).to_have_attribute("data-loads", "1", timeout=10_000)
        expect(page.locator("#ai-models .ai-findings > li")).to_have_count(5)

    def colleague_worklist(self):
        """The colleague's worklist in a browser context of their own, its live socket open."""
        client = self.client_class()
        client.force_login(self.colleague)
        context = self.page.context.browser.new_context(viewport={"width": 1280, "height": 800})
        self.addCleanup(context.close)
        context.add_cookies(
            [
                {"name": "sessionid", "value": client.cookies["sessionid"].value, "url": self.live_server_url},
                {"name": "django_language", "value": "en", "url": self.live_server_url},
            ]
        )
        page = context.new_page()
        page.goto(self.live_server_url + "/")
        expect(page.locator("#worklist-live")).to_have_attribute("data-state", "open", timeout=10_000)
        return page


class WholeReadTests(ReadingBrowserCase):
    def test_a_radiologist_decides_every_finding_by_keyboard_adds_one_signs_and_the_colleague_sees_it_read(self):
        SHOTS.mkdir(exist_ok=True)
        page = self.page
        page.set_viewport_size({"width": 1280, "height": 800})
        study = self.case.study
        colleague = self.colleague_worklist()
        colleague_row = colleague.locator(f"#study-{study.pk}")
        expect(colleague_row).to_be_visible()

        # Claim on the worklist, then open the study.
        self.log_in()
        page.goto(self.live_server_url + "/")
        page.locator(f"#study-{study.pk} button.claim").click()
        expect(page.locator(f"#study-{study.pk} td.reader")).to_have_text("Minjun Kim")
        self.open_reading()
        panel = page.locator("#ai-panel")
        expect(panel).to_have_attribute("data-reading-state", "editable")
        expect(page.locator("#reading-progress")).to_have_text("0 of 5 AI findings decided")
        expect(self.finding(0).locator(".reading-verdict")).to_have_text("Undecided")
        expect(page.locator("#report-tab-badge")).to_have_text("5")

        # J selects the first finding (the point) and shows its image; A accepts it.
        page.locator(".viewport").first.click()
        page.keyboard.press("j")
        expect(self.finding(0).locator(".ai-finding")).to_have_attribute("aria-current", "true")
        page.keyboard.press("a")
        expect(self.finding(0).locator(".reading-verdict")).to_have_text("Accepted · Minjun Kim")

        # The box: E, drag its bottom-right corner, change the label, Enter saves it as modified.
        page.keyboard.press("j")
        page.keyboard.press("e")
        expect(page.locator("#reading-edit")).to_be_visible()
        self.settle()
        self.drag(0, (6.5, 7.0), CORRECTED_CORNER)
        page.locator("#reading-edit-label").fill("Nodule 9 mm, corrected")
        page.locator(".viewport").first.focus()
        page.keyboard.press("Enter")
        expect(self.finding(1).locator(".reading-verdict")).to_have_text("Modified · Minjun Kim")
        expect(page.locator("#reading-edit")).to_be_hidden()

        # The outline: R opens the reason chooser, 2 picks a reason, a note, Enter rejects.
        page.keyboard.press("j")
        page.keyboard.press("r")
        chooser = page.locator("#reading-reject")
        expect(chooser).to_be_visible()
        expect(chooser.locator("input[name=reading-reason]")).to_have_count(5)
        page.keyboard.press("2")
        expect(chooser.locator("input[name=reading-reason]").nth(1)).to_be_checked()
        page.locator("#reading-reject-note").fill("rib end")
        page.screenshot(path=str(SHOTS / "reading-reject-chooser-1280x800.png"))
        page.keyboard.press("Enter")
        expect(self.finding(2).locator(".reading-verdict")).to_contain_text(
            "Rejected: False positive: normal structure"
        )
        expect(self.finding(2).locator(".reading-verdict")).to_contain_text("rib end")

        # The 3D box and the whole-study finding: accepted; U undoes and A accepts again.
        page.keyboard.press("j")
        page.keyboard.press("a")
        expect(self.finding(3).locator(".reading-verdict")).to_have_text("Accepted · Minjun Kim")
        page.keyboard.press("j")
        page.keyboard.press("a")
        expect(self.finding(4).locator(".reading-verdict")).to_have_text("Accepted · Minjun Kim")
        page.keyboard.press("u")
        expect(self.finding(4).locator(".reading-verdict")).to_have_text("Undecided")
        expect(page.locator("#reading-progress")).to_have_text("4 of 5 AI findings decided")
        page.keyboard.press("a")
        expect(page.locator("#reading-progress")).to_have_text("Every AI finding is decided.")

        # A finding the AI missed: M, draw a box, pick its type, Enter adds it.
        page.keyboard.press("Escape")
        page.keyboard.press("m")
        expect(page.locator("#reading-add")).to_be_visible()
        self.drag(0, MISSED_BOX[:2], MISSED_BOX[2:])
        page.locator("#reading-add-type").select_option("nodule")
        page.locator("#reading-add-label").fill("Missed nodule 5 mm")
        page.keyboard.press("Enter")
        added = page.locator("#reader-finding-list > li")
        expect(added).to_have_count(1)
        expect(added).to_contain_text("Missed nodule 5 mm")
        expect(added).to_contain_text("Added by Minjun Kim")
        self.settle()
        page.screenshot(path=str(SHOTS / "reading-deciding-1280x800.png"))

        # The report: the structured fields and the impression; the AI findings brought in.
        page.locator("#side-tab-report").click()
        report = page.locator("#report-panel")
        expect(report).to_be_visible()
        expect(report.locator(".report-ai-finding")).to_have_count(4)
        expect(report.locator(".report-ai-finding.verdict-rejected")).to_have_count(0)
        expect(page.locator("#report-sign-state")).to_be_hidden()
        report.locator("select[name=s-lung_rads]").select_option("4A")
        report.locator("select[name=nodule-0-location]").select_option("RUL")
        report.locator("input[name=nodule-0-size_mm]").fill("9")
        report.locator("select[name=nodule-0-nodule_type]").select_option("solid")
        report.locator("textarea[name=findings_text]").fill("A 9 mm solid nodule in the right upper lobe.")
        report.locator("textarea[name=impression]").fill("Solid nodule 9 mm, Lung-RADS 4A.")
        page.screenshot(path=str(SHOTS / "reading-report-1280x800.png"))
        sign = report.locator("button[formaction$='/report/sign']")
        expect(sign).to_be_enabled()
        sign.click()
        # On the embedded default the SR is built and archived inside the signing request.
        expect(page.locator("#report-panel")).to_have_attribute("data-status", "signed", timeout=30_000)
        expect(page.locator("#report-panel .notice")).to_have_text("Signed. The study is read.")
        expect(page.locator("#addendum-text")).to_be_visible()
        expect(page.locator("#report-panel a.print-link")).to_be_visible()
        expect(panel).to_have_attribute("data-reading-state", "read-only")
        expect(page.locator("#reading-read-only")).to_have_text("The report is signed; decisions are locked.")
        page.screenshot(path=str(SHOTS / "reading-signed-1280x800.png"))

        # The colleague's worklist shows it read, live.
        expect(colleague_row.locator("td.status")).to_have_text("Read", timeout=3_000)
        assert colleague.evaluate("performance.getEntriesByType('navigation').length") == 1
        colleague.screenshot(path=str(SHOTS / "reading-colleague-worklist-1280x800.png"))

        # What the database holds.
        point, box, outline, box3d, whole = self.case.findings
        latest = latest_decisions(self.case)
        assert {key: latest[key.pk].verdict for key in (point, box, outline, box3d, whole)} == {
            point: "accepted",
            box: "modified",
            outline: "rejected",
            box3d: "accepted",
            whole: "accepted",
        }
        corrected = latest[box.pk]
        assert corrected.label == "Nodule 9 mm, corrected"
        assert corrected.geometry_kind == "box"
        x0, y0, x1, y1 = corrected.geometry.get("box", corrected.geometry)
        assert (x0, y0) == (1, 1)
        assert abs(x1 - CORRECTED_CORNER[0]) <= 0.3 and abs(y1 - CORRECTED_CORNER[1]) <= 0.3, corrected.geometry
        assert latest[outline.pk].reason == "normal_structure" and latest[outline.pk].note == "rib end"
        assert latest[whole.pk].revision == 3  # accepted, undone, accepted: history kept
        missed = ReaderFinding.objects.get(study=study, removed_at__isnull=True)
        assert (missed.finding_type, missed.label, missed.geometry_kind) == ("nodule", "Missed nodule 5 mm", "box")
        drawn = missed.geometry.get("box", missed.geometry)
        assert all(abs(got - want) <= 0.3 for got, want in zip(drawn, MISSED_BOX)), drawn
        signed = Report.objects.get(study=study)
        assert signed.status == ReportStatus.SIGNED and signed.impression == "Solid nodule 9 mm, Lung-RADS 4A."
        assert Study.objects.get(pk=study.pk).status == StudyStatus.READ

        # The printable report: the confirmed findings with their model; the rejected one absent.
        page.goto(f"{self.live_server_url}/reading/studies/{self.case.uid}/report/print")
        rows = page.locator(".ai-findings tbody tr")
        expect(rows).to_have_count(4)
        expect(page.locator("tr.verdict-rejected")).to_have_count(0)
        expect(page.locator("tr.verdict-modified")).to_contain_text("Nodule 9 mm, corrected")
        expect(rows.first).to_contain_text("Acme LungNet 2.1")
        expect(page.locator(".reader-findings")).to_contain_text("Missed nodule 5 mm")
        page.screenshot(path=str(SHOTS / "reading-print-1280x800.png"), full_page=True)
        self.assert_no_script_errors()


class ReadOnlyTests(ReadingBrowserCase):
    def test_a_radiologist_without_the_claim_sees_the_verdicts_read_only_and_cannot_decide(self):
        SHOTS.mkdir(exist_ok=True)
        page = self.page
        page.set_viewport_size({"width": 1280, "height": 800})
        in_thread(claimed_by, self.colleague, self.case)
        self.log_in(self.reader)
        self.open_reading()
        expect(page.locator("#ai-panel")).to_have_attribute("data-reading-state", "read-only")
        expect(page.locator("#reading-read-only")).to_have_text("Seoyeon Choi is reading this study.")
        for action in ("accept", "reject", "edit", "undo", "add"):
            expect(page.locator(f".reading-actions button[data-reading={action}]")).to_be_disabled()
        expect(self.finding(0).locator(".reading-verdict")).to_have_text("Undecided")

        # The keys select and show, but change nothing: the reason is said instead.
        page.locator(".viewport").first.click()
        page.keyboard.press("j")
        expect(self.finding(0).locator(".ai-finding")).to_have_attribute("aria-current", "true")
        page.keyboard.press("a")
        expect(page.locator("#reading-notice")).to_have_text("Seoyeon Choi is reading this study.")
        page.keyboard.press("m")
        expect(page.locator("#reading-add")).to_be_hidden()
        assert not FindingDecision.objects.filter(study=self.case.study).exists()

        page.locator("#side-tab-report").click()
        expect(page.locator("#report-panel textarea[name=impression]")).to_be_disabled()
        expect(page.locator("#report-panel .read-only")).to_have_text("Seoyeon Choi is reading this study.")
        page.screenshot(path=str(SHOTS / "reading-read-only-1280x800.png"))
        self.assert_no_script_errors()
