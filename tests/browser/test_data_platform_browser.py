"""The data steward in Debian's chromium: logs in, builds a cohort while the counts follow each
filter without a reload, exports it with an approved purpose and a reason, watches the progress bar
move as a database-queue worker writes the package study by study, and downloads a zip whose
manifest verifies; a purpose she proposes waits for an administrator before it can be chosen."""

import hashlib
import json
import shutil
import tempfile
import threading
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from unittest import mock

import pytest
from channels.testing import ChannelsLiveServerTestCase
from django.db import connections
from django.test import override_settings
from playwright.sync_api import expect

from ai_overlays.intake import store_result
from ai_overlays.models import AIModel, Finding
from data_platform import export_job, purposes
from data_platform.models import Cohort, Export, Purpose
from reading.models import FindingDecision
from tests.conftest import make_user
from tests.data_platform.demo_studies import ingest_demo_chest_xrays
from worklist.models import Instance, Study

SHOTS = Path(__file__).resolve().parents[2] / "shots"
PASSWORD = "pw-for-tests-1"  # noqa: S105
# The live server and the queue worker of the test process must share the database queue.
DATABASE_QUEUE = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


class DataPlatformLiveServer(ChannelsLiveServerTestCase):
    serve_static = True

    @classmethod
    def setUpClass(cls):
        # Fixed before daphne forks, so the server and the test process read the same folders.
        cls.folder = Path(tempfile.mkdtemp(prefix="data-platform-browser-"))
        cls.paths = override_settings(STORAGE_DIR=cls.folder / "archive", DATA_EXPORT_DIR=cls.folder / "exports")
        cls.paths.enable()
        # daphne is forked next: see test_worklist_live_browser.py for why connections are closed.
        connections.close_all()
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.paths.disable()
        shutil.rmtree(cls.folder, ignore_errors=True)

    @pytest.fixture(autouse=True)
    def _browser(self, browser):
        self.browser = browser

    def setUp(self):
        # The conftest's autouse fixture moved the folders to tmp_path; the server has the class ones.
        self.enterContext(
            override_settings(STORAGE_DIR=self.folder / "archive", DATA_EXPORT_DIR=self.folder / "exports")
        )
        from accounts.models import Site

        self.sites = {
            "SUWON": Site.objects.create(code="SUWON", name="Suwon"),
            "ICHEON": Site.objects.create(code="ICHEON", name="Icheon"),
            "ANSEONG": Site.objects.create(code="ANSEONG", name="Anseong", is_hub=True),
        }
        self.steward = make_user("steward", role="data_steward", password=PASSWORD)
        self.admin = make_user("admin.user", role="admin", all_sites=True, password=PASSWORD)

    def log_in(self, username: str, then: str):
        context = self.browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
        self.addCleanup(context.close)
        context.add_cookies([{"name": "django_language", "value": "en", "url": self.live_server_url}])
        page = context.new_page()
        self.errors = []
        # Failed loads are judged by their response below (the browser's own favicon.ico request is no page's).
        page.on(
            "console",
            lambda message: message.type == "error"
            and not message.text.startswith("Failed to load resource")
            and self.errors.append(message.text),
        )
        page.on(
            "response",
            lambda response: response.status >= 400
            and not response.url.endswith("/favicon.ico")
            and self.errors.append(f"{response.status} {response.url}"),
        )
        # The home page is the worklist, which a steward may not open: she follows a link to her page.
        page.goto(f"{self.live_server_url}/accounts/login/?next={then}")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", PASSWORD)
        page.click("button.primary")
        page.wait_for_url(f"**{then}")
        return page


def accept_one_ai_finding(study: Study, radiologist) -> None:
    AIModel.objects.create(vendor="Acme", product="LungNet", version="2.1", clinical_area="lung", modalities="DX")
    instance = Instance.objects.filter(series__study=study).select_related("series").first()
    store_result(
        payload={
            "result_id": "browser-1",
            "model": {"vendor": "Acme", "product": "LungNet", "version": "2.1"},
            "study_instance_uid": study.study_instance_uid,
            "findings": [
                {
                    "type": "nodule",
                    "label": "Nodule",
                    "score": 90.0,
                    "box": [10, 10, 30, 30],
                    "series_instance_uid": instance.series.series_instance_uid,
                    "sop_instance_uid": instance.sop_instance_uid,
                }
            ],
        },
        engine=None,
    )
    FindingDecision.objects.create(
        study=study, finding=Finding.objects.get(), revision=1, verdict="accepted", decided_by=radiologist
    )


class GatedWorker:
    """The database queue's own worker, run in a thread of the test process, that writes one study
    each time the test lets it: the page's progress can then be asserted step by step."""

    def __init__(self):
        self.allowed = threading.Semaphore(0)
        real = export_job.export_study

        def gated(study, **kwargs):
            assert self.allowed.acquire(timeout=30), "the test never let the next study through"
            return real(study, **kwargs)

        self.patch = mock.patch.object(export_job, "export_study", gated)
        self.pool = ThreadPoolExecutor(1)

    def start(self):
        from django_tasks_db.management.commands.db_worker import Worker

        worker = Worker(
            queue_names=["default"],
            interval=0.1,
            batch=True,  # the ingest's pixel checks and the export, then out
            backend_name="default",
            startup_delay=False,
            max_tasks=None,
            worker_id="browser-test",
            excluded_queue_names=[],
        )

        def run():
            try:
                worker.run()
            finally:
                connections.close_all()

        self.patch.start()
        self.running = self.pool.submit(run)

    def let_one_study_through(self):
        self.allowed.release()

    def stop(self):
        self.running.result(timeout=60)
        self.patch.stop()
        self.pool.shutdown()


@pytest.mark.browser
@override_settings(TASKS=DATABASE_QUEUE)
class CohortExportFlowTests(DataPlatformLiveServer):
    def setUp(self):
        super().setUp()
        radiologist = make_user("kim.suwon", sites=[self.sites["SUWON"]])
        self.studies = ingest_demo_chest_xrays(self.sites)
        accept_one_ai_finding(self.studies[0], radiologist)
        purpose = purposes.propose_purpose(
            kind="research", title="Nodule detection training", description="", user=self.steward
        )
        self.purpose = purposes.decide_purpose(purpose=purpose, approve=True, user=self.admin)

    def test_a_steward_builds_a_cohort_exports_it_watches_the_progress_and_downloads_a_verified_package(self):
        SHOTS.mkdir(exist_ok=True)
        page = self.log_in("steward", then="/data/")
        studies = page.locator("#cohort-counts [data-count=studies]")
        expect(studies).to_have_text("3")
        page.screenshot(path=str(SHOTS / "data-cohort-builder.png"), full_page=True)

        # The counts follow each filter through htmx, without a reload.
        page.get_by_label("Suwon").check()
        expect(studies).to_have_text("1")
        page.get_by_label("Anseong").check()
        expect(studies).to_have_text("2")
        page.get_by_label("Modality").fill("CT")
        expect(studies).to_have_text("0")
        page.get_by_label("Modality").fill("DX")
        expect(studies).to_have_text("2")
        expect(page.locator("#cohort-counts [data-count=instances]")).to_have_text("2")
        expect(page.locator("#cohort-counts [data-count=labels_accepted]")).to_have_text("1")
        assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
        page.screenshot(path=str(SHOTS / "data-cohort-counts.png"), full_page=True)

        page.get_by_label("Cohort name").fill("Chest X-rays, Suwon and Anseong")
        page.get_by_role("button", name="Save cohort").click()
        expect(page.locator("h1")).to_have_text("Chest X-rays, Suwon and Anseong")
        assert Cohort.objects.get().definition["sites"] == ["ANSEONG", "SUWON"]
        expect(page.locator("#cohort-counts [data-count=studies]")).to_have_text("2")

        page.get_by_label("Approved purpose").select_option(str(self.purpose.pk))
        page.get_by_label("Reason").fill("Train a nodule detector on confirmed findings")
        page.get_by_role("button", name="Export", exact=True).click()
        page.wait_for_url("**/data/exports/")
        row = page.locator("#export-rows tr").first
        expect(row).to_contain_text("Queued")

        worker = GatedWorker()
        worker.start()
        try:
            expect(row).to_contain_text("0/2")
            worker.let_one_study_through()
            expect(row).to_contain_text("1/2")
            expect(row.locator("progress")).to_have_attribute("value", "50")
            expect(row).to_contain_text("Running")
            page.screenshot(path=str(SHOTS / "data-export-in-progress.png"), full_page=True)
            worker.let_one_study_through()
            expect(row.get_by_role("link", name="Download")).to_be_visible(timeout=30_000)
        finally:
            worker.let_one_study_through()  # never leave the worker waiting on a failed assertion
            worker.stop()
        expect(row.locator("progress")).to_have_attribute("value", "100")
        assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
        page.screenshot(path=str(SHOTS / "data-export-done.png"), full_page=True)

        with page.expect_download() as download:
            row.get_by_role("link", name="Download").click()
        with zipfile.ZipFile(download.value.path()) as archive:
            files = {name: archive.read(name) for name in archive.namelist()}
        manifest = json.loads(files["manifest.json"])
        assert set(manifest["files"]) == set(files) - {"manifest.json"}
        assert all(hashlib.sha256(files[name]).hexdigest() == digest for name, digest in manifest["files"].items())
        assert manifest["counts"]["studies"] == 2 and manifest["counts"]["instances"] == 2
        export = Export.objects.get()
        assert export.reason == "Train a nodule detector on confirmed findings" and export.purpose == self.purpose
        assert self.errors == []


@pytest.mark.browser
class PendingPurposeTests(DataPlatformLiveServer):
    def test_a_proposed_purpose_cannot_be_chosen_until_an_administrator_approves_it(self):
        SHOTS.mkdir(exist_ok=True)
        cohort = Cohort.objects.create(name="Everything", definition={}, created_by=self.steward)
        page = self.log_in("steward", then=f"/data/cohorts/{cohort.pk}/")
        page.get_by_label("Purpose kind").select_option("statistics")
        page.get_by_label("Title").fill("Yearly lung cancer screening figures")
        page.get_by_role("button", name="Send for approval").click()
        expect(page.locator(".messages")).to_contain_text("sent to an administrator")
        purpose = Purpose.objects.get()
        assert purpose.status == "pending"
        options = page.locator("select[name=purpose] option")
        expect(options).to_have_count(1)  # only "choose"
        expect(page.locator(".pending-purposes")).to_contain_text("Yearly lung cancer screening figures")
        page.screenshot(path=str(SHOTS / "data-purpose-pending.png"), full_page=True)

        admin = self.log_in("admin.user", then="/data/purposes/")
        admin.get_by_role("row", name="Yearly lung cancer screening figures").get_by_role(
            "button", name="Approve"
        ).click()
        expect(admin.get_by_role("row", name="Yearly lung cancer screening figures")).to_contain_text("Approved")
        admin.screenshot(path=str(SHOTS / "data-purposes-admin.png"), full_page=True)

        page.reload()
        expect(options).to_have_count(2)
        expect(page.locator("select[name=purpose]")).to_contain_text("Yearly lung cancer screening figures")
        assert self.errors == []
