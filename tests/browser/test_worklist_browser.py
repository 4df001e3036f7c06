"""The worklist in Debian's chromium: log in, filter, sort, move by keyboard, claim with `c`, be told
who reads a study someone else has; screenshots at 1280x800 and on a 4K reading monitor."""

import re
from datetime import date, time, timedelta
from pathlib import Path

import pytest
from channels.testing import ChannelsLiveServerTestCase
from django.utils import timezone
from playwright.sync_api import expect

from tests.conftest import make_user

SHOTS = Path(__file__).resolve().parents[2] / "shots"
ROWS = "#worklist-rows tr.study-row"
NAMES = ["KIM^MINJI", "LEE^SEOYEON", "PARK^JIHOON", "CHOI^YUNA", "JUNG^HYUNWOO", "KANG^SUBIN", "HONG^GILDONG"]
MODELS = {
    "CT": [{"model": "StrokeNet", "vendor": "Acme", "version": "2.1", "score": 92, "urgent": True}],
    "CR": [{"model": "LungCXR", "vendor": "Lunit", "version": "3.0", "score": 41, "urgent": False}],
    "MG": [
        {"model": "MammoScreen", "vendor": "Therapixel", "version": "2", "score": 73, "urgent": False},
        {"model": "BreastQA", "vendor": "Acme", "version": "1.4", "score": 12, "urgent": False},
    ],
    "MR": [],
}


@pytest.mark.browser
class WorklistBrowserCase(ChannelsLiveServerTestCase):
    """Sixty-four studies of Suwon and Anseong (two urgent, two STAT, two read by a colleague) and one of
    Icheon that must never show. One test per class: on SQLite, the daphne child forked for a class
    kept reading an old snapshot in that class's second test (rows inserted by its setUp missing)."""

    serve_static = True

    @pytest.fixture(autouse=True)
    def _playwright_page(self, page):
        self.page = page

    def setUp(self):
        from accounts.models import Site
        from worklist.models import Patient, Study, StudyStatus

        suwon = Site.objects.create(code="SUWON", name="Suwon")
        anseong = Site.objects.create(code="ANSEONG", name="Anseong", is_hub=True)
        icheon = Site.objects.create(code="ICHEON", name="Icheon")
        self.reader = make_user("kim.suwon", sites=[suwon, anseong])
        self.reader.first_name, self.reader.last_name = "Minjun", "Kim"
        self.reader.save()
        colleague = make_user("lee.suwon", sites=[suwon])
        colleague.first_name, colleague.last_name = "Jiwoo", "Lee"
        colleague.save()
        now = timezone.now()
        for number in range(64):
            modality = ["CT", "CR", "MG", "MR"][number % 4]
            site = [suwon, anseong][number % 2]
            patient = Patient.objects.create(
                site=site, patient_id=f"{20240000 + number}", name=NAMES[number % 7], sex="MF"[number % 2]
            )
            urgent = number in (5, 21)
            claimed = colleague if number in (2, 9) else None
            study = Study.objects.create(
                study_instance_uid=f"1.2.410.200.9.{number}",
                patient=patient,
                site=site,
                patient_name_search=patient.name,
                accession_number=f"ACC{number:04}",
                study_date=date(2026, 11, 24) - timedelta(days=number % 3),
                study_time=time(8 + number % 10, 5 * (number % 12)),
                description=["CT BRAIN WITHOUT CONTRAST", "CHEST PA", "SCREENING MAMMOGRAPHY BILATERAL", "MRI BRAIN"][
                    number % 4
                ],
                patient_age=f"{40 + number % 45:03}Y",
                modality=modality,
                modalities=modality,
                clinical_area=["stroke", "lung", "breast", "dementia"][number % 4],
                is_stat=number in (7, 30),
                ai_status="ready" if MODELS[modality] else "no_ai",
                ai_summary=[{**entry, "urgent": urgent} for entry in MODELS[modality]],
                ai_urgent=urgent,
                ai_score=max((entry["score"] for entry in MODELS[modality]), default=None),
                priority=0 if urgent else 1 if number in (7, 30) else 2,
                status=StudyStatus.IN_READING if claimed else StudyStatus.AI_READY,
                claimed_by=claimed,
                claimed_at=now if claimed else None,
                last_activity_at=now if claimed else None,
            )
            Study.objects.filter(pk=study.pk).update(received_at=now - timedelta(minutes=7 * number + 3))
        other = Patient.objects.create(site=icheon, patient_id="ICHEON-1", name="SECRET^ICHEON")
        Study.objects.create(
            study_instance_uid="1.2.410.200.9.999", patient=other, site=icheon, patient_name_search=other.name
        )

    def log_in(self):
        page = self.page
        page.context.add_cookies([{"name": "django_language", "value": "en", "url": self.live_server_url}])
        page.goto(self.live_server_url + "/")
        page.fill("input[name=username]", "kim.suwon")
        page.fill("input[name=password]", "pw-for-tests-1")
        page.click("button.primary")
        expect(page.locator("h1")).to_have_text("Studies")
        # Filters and popovers answer once htmx has processed the page: its scripts ran when the socket opened.
        expect(page.locator("#worklist-live")).to_have_attribute("data-state", "open", timeout=10_000)

    def no_horizontal_overflow(self) -> bool:
        return self.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


class WorklistKeyboardTests(WorklistBrowserCase):
    def test_filter_sort_keyboard_claim_and_screenshots(self):
        SHOTS.mkdir(exist_ok=True)
        page = self.page
        page.set_viewport_size({"width": 1280, "height": 800})
        self.log_in()
        rows = page.locator(ROWS)
        expect(rows).to_have_count(50)
        expect(page.locator("#worklist-rows")).not_to_contain_text("SECRET")
        # Urgent AI first, then STAT, then the oldest routine study.
        expect(rows.nth(0).locator(".badge.urgent")).to_be_visible()
        expect(rows.nth(2).locator(".badge.stat")).to_be_visible()
        expect(rows.nth(0).locator("time.since")).to_have_text("2 h 30 min")
        page.screenshot(path=str(SHOTS / "worklist-1280.png"))
        assert self.no_horizontal_overflow()

        # Next page by cursor, and back.
        page.click("a[rel=next]")
        expect(rows).to_have_count(14)
        page.click("a[rel=prev]")
        expect(rows).to_have_count(50)

        # A filter swaps the view in place and the address keeps it.
        page.select_option("#filter-modality", "MG")
        expect(rows).to_have_count(16)
        expect(page).to_have_url(re.compile(r"/\?(.*&)?modality=MG(&|$)"))
        expect(rows.first.locator("td.ai")).to_contain_text("MammoScreen")

        # Sort by patient ID, then the other way.
        page.click("th.col-patient_id a")
        expect(page.locator("th[aria-sort=ascending]")).to_contain_text("Patient ID")
        expect(rows.first.locator("td.patient-id")).to_have_text("20240002")
        page.click("th.col-patient_id a")
        expect(page.locator("th[aria-sort=descending]")).to_contain_text("Patient ID")
        expect(rows.first.locator("td.patient-id")).to_have_text("20240062")
        expect(page).to_have_url(self.live_server_url + "/?modality=MG&sort=patient_id&dir=desc")

        # Keyboard: a click selects a row; j j moves two down, k one up.
        rows.nth(0).locator("td.sex-age").click()
        expect(rows.nth(0)).to_have_attribute("aria-selected", "true")
        page.keyboard.press("j")
        page.keyboard.press("j")
        page.keyboard.press("k")
        selected = page.locator(f"{ROWS}[aria-selected=true]")
        expect(selected).to_have_count(1)
        expect(selected.locator("td.patient-id")).to_have_text("20240058")

        # c claims the selected study: the row comes back with the reader and a Release button.
        page.keyboard.press("c")
        expect(selected.locator("td.reader")).to_have_text("Minjun Kim")
        expect(selected.locator("button.release")).to_be_visible()
        expect(selected).to_have_class(re.compile(r"\bmine\b"))
        page.keyboard.press("r")
        expect(selected.locator("button.claim")).to_be_visible()

        # A study a colleague reads: c is answered with who has it.
        page.select_option("#filter-modality", "")
        expect(rows).to_have_count(50)
        page.fill("#filter-search", "20240009")
        page.keyboard.press("Enter")
        expect(rows).to_have_count(1)
        page.locator("body").click(position={"x": 5, "y": 5})
        page.keyboard.press("c")
        expect(rows.first.locator(".notice")).to_contain_text("Jiwoo Lee is reading this study")
        expect(page.locator("#worklist-toast")).to_contain_text("Jiwoo Lee")
        page.screenshot(path=str(SHOTS / "worklist-claimed-by-other-1280.png"))

        # / goes to the search box; ? shows the keys.
        page.locator("body").click(position={"x": 5, "y": 5})
        page.keyboard.press("/")
        expect(page.locator("#filter-search")).to_be_focused()
        page.keyboard.press("Escape")
        page.keyboard.press("?")
        expect(page.locator("#keyboard-help")).to_be_visible()
        page.screenshot(path=str(SHOTS / "worklist-help-1280.png"))
        page.keyboard.press("Escape")
        expect(page.locator("#keyboard-help")).to_be_hidden()

        # Enter opens the selected study.
        page.goto(self.live_server_url + "/")
        page.keyboard.press("Enter")
        expect(page).to_have_url(self.live_server_url + "/reading/studies/1.2.410.200.9.21/")


class WorklistSavedViewTests(WorklistBrowserCase):
    def test_saved_view_and_4k_screenshot(self):
        SHOTS.mkdir(exist_ok=True)
        page = self.page
        page.set_viewport_size({"width": 3840, "height": 2160})
        self.log_in()
        page.select_option("#filter-area", "stroke")
        expect(page.locator(ROWS)).to_have_count(16)
        page.fill("#preset-name", "Stroke CT")
        page.click(".save-preset button")
        expect(page.locator(".preset.current a")).to_have_text("Stroke CT")
        page.goto(self.live_server_url + "/")
        expect(page.locator(ROWS)).to_have_count(50)
        page.click(".preset a")
        expect(page.locator(ROWS)).to_have_count(16)
        # Back re-reads the previous view from the server: no copy of the page was kept in localStorage.
        page.go_back()
        expect(page).to_have_url(self.live_server_url + "/")
        expect(page.locator(ROWS)).to_have_count(50)
        assert page.evaluate("Object.keys(localStorage).filter(key => key.startsWith('htmx')).length") == 0
        assert self.no_horizontal_overflow()
        page.goto(self.live_server_url + "/")
        page.screenshot(path=str(SHOTS / "worklist-3840.png"))


class WorklistHeadTests(WorklistBrowserCase):
    def test_head_reassigns_from_the_row_at_1280(self):
        from accounts.models import Site

        SHOTS.mkdir(exist_ok=True)
        head = make_user("jung.head", role="department_head", sites=list(Site.objects.all()))
        head.first_name, head.last_name = "Hana", "Jung"
        head.save()
        page = self.page
        page.set_viewport_size({"width": 1280, "height": 800})
        page.context.add_cookies([{"name": "django_language", "value": "en", "url": self.live_server_url}])
        page.goto(self.live_server_url + "/")
        page.fill("input[name=username]", "jung.head")
        page.fill("input[name=password]", "pw-for-tests-1")
        page.click("button.primary")
        # The popover loads on the details' toggle event, which htmx hears once the page's scripts ran.
        expect(page.locator("#worklist-live")).to_have_attribute("data-state", "open", timeout=10_000)
        row = page.locator(ROWS).nth(5)  # a Suwon study: Jiwoo Lee reads for Suwon only
        row.locator("details.reassign summary").click()
        row.locator(".reassign-form select").select_option(label="Jiwoo Lee")
        page.screenshot(path=str(SHOTS / "worklist-reassign-1280.png"))
        row.locator(".reassign-form button").click()
        expect(row.locator("td.reader")).to_have_text("Jiwoo Lee")
        expect(row.locator("td.status")).to_have_text("In reading")
        assert self.no_horizontal_overflow()
