"""The upload page in Debian's Chromium: pick files, drop files, see each file's outcome."""

import shutil
import tempfile
from pathlib import Path

import pytest
from channels.testing import ChannelsLiveServerTestCase
from django.test import Client, override_settings
from playwright.sync_api import expect
from pydicom.data import get_testdata_file

from tests.conftest import make_user
from worklist.models import Instance, Study

SHOTS = Path(__file__).resolve().parents[2] / "shots"


@pytest.mark.browser
class UploadPageTests(ChannelsLiveServerTestCase):
    serve_static = True

    @classmethod
    def setUpClass(cls):
        # daphne is forked in super().setUpClass(): the archive folder must be set before it.
        cls.archive = tempfile.mkdtemp(prefix="readingws-upload-browser-")
        cls.archive_override = override_settings(STORAGE_DIR=Path(cls.archive))
        cls.archive_override.enable()
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.archive_override.disable()
        shutil.rmtree(cls.archive, ignore_errors=True)

    @pytest.fixture(autouse=True)
    def _playwright_page(self, page, tmp_path):
        self.page = page
        self.tmp_path = tmp_path

    def log_in(self):
        from accounts.models import Site

        sites = [Site.objects.create(code=code, name=code.title()) for code in ("ANSEONG", "ICHEON", "SUWON")]
        user = make_user("park.anseong", sites=sites[:1], all_sites=True)
        browser = Client()
        browser.force_login(user)
        self.page.context.add_cookies(
            [
                {
                    "name": "sessionid",
                    "value": browser.cookies["sessionid"].value,
                    "url": self.live_server_url,
                },
                {"name": "django_language", "value": "en", "url": self.live_server_url},
            ]
        )

    def test_pick_and_drop_files_and_see_each_outcome(self):
        self.log_in()
        page = self.page
        page.goto(self.live_server_url + "/upload/")
        not_dicom = self.tmp_path / "notes.txt"
        not_dicom.write_text("not an image")
        files = [
            get_testdata_file("CT_small.dcm"),
            str(not_dicom),
            get_testdata_file("MR_small.dcm"),
        ]

        page.set_input_files("#pick-files", files)
        expect(page.locator("#summary")).to_have_text("Choose the site first.")

        page.select_option("select[name=site]", "SUWON")
        page.set_input_files("#pick-files", files)
        summary = page.locator("#summary")
        expect(summary).to_have_text("3 of 3 files: 2 stored, 0 already present, 1 refused", timeout=15_000)
        rows = page.locator("#results tbody tr")
        expect(rows).to_have_count(3)
        expect(rows.nth(0).locator("td.ok")).to_have_text("stored")
        expect(rows.nth(1).locator("td.refused")).to_contain_text("refused: not a DICOM file")

        # A drop without directory entries (as a synthetic drop is) goes through dataTransfer.files.
        ct = list(Path(get_testdata_file("CT_small.dcm")).read_bytes())
        dropped = page.evaluate_handle(
            """(bytes) => {
                const transfer = new DataTransfer();
                transfer.items.add(new File([new Uint8Array(bytes)], "again.dcm"));
                return transfer;
            }""",
            ct,
        )
        page.dispatch_event("#dropzone", "drop", {"dataTransfer": dropped})
        expect(summary).to_have_text("1 of 1 files: 0 stored, 1 already present, 0 refused", timeout=15_000)
        expect(page.locator("#progress")).to_have_js_property("value", 1)

        folder = self.tmp_path / "study"
        (folder / "series-1").mkdir(parents=True)
        shutil.copy(get_testdata_file("CT_small.dcm"), folder / "series-1" / "IM0001")
        (folder / "DICOMDIR.txt").write_text("an index, not an image")
        page.set_input_files("#pick-folder", str(folder))
        expect(summary).to_have_text("2 of 2 files: 0 stored, 1 already present, 1 refused", timeout=15_000)
        expect(page.locator("#results tbody")).to_contain_text("study/series-1/IM0001")

        SHOTS.mkdir(exist_ok=True)
        page.set_input_files("#pick-files", files)
        expect(summary).to_have_text("3 of 3 files: 0 stored, 2 already present, 1 refused", timeout=15_000)
        page.screenshot(path=str(SHOTS / "upload.png"), full_page=True)
        assert Instance.objects.count() == 2
        assert set(Study.objects.values_list("site__code", flat=True)) == {"SUWON"}
