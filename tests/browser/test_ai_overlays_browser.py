"""The AI in the viewer, in Debian's chromium: a box and a heatmap at known places are drawn there
and nowhere else (read back from the overlay canvas), H hides and shows them, a model's checkbox
hides its drawings, a click on a finding in the panel brings its slice into the middle of the
viewport, and a result posted by an engine while the study is open appears without a reload.
Screenshots: shots/ai-*.png."""

import base64
import json
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from playwright.sync_api import expect

from ai_overlays.intake import store_result
from dicomkit.synthetic import chest_ct
from reading.manifest import series_frames
from tests.ai_overlays.factories import make_engine, make_model, model_ref
from tests.ai_overlays.viewer_data import heatmap_png
from tests.browser.test_viewer_browser import SHOTS, ViewerBrowserCase
from worklist.models import Series

SLICES, SIZE = 12, 64
FINDING_SLICE = 2
BOX = [10, 10, 30, 30]
HEAT_ROWS, HEAT_COLUMNS = (40, 56), (36, 52)
MASS_SLICES = (6, 8)
MASS = {"min": [36, 6, MASS_SLICES[0]], "max": [56, 22, MASS_SLICES[1]]}
GREEN, MAGENTA = "#00ff00", "#ff00ff"
INFERNO_TOP = [252, 255, 164]  # the colour map at 1.0


class AiOverlayTests(ViewerBrowserCase):
    def overlay_at(self, column: float, row: float) -> list[int]:
        """RGBA of the active viewport's overlay canvas at an image point."""
        self.settle()
        return self.page.evaluate(
            """([column, row]) => {
                const viewport = window.readingViewer.viewports[0];
                const point = viewport.imageToViewport(column, row);
                const ratio = viewport.pixelRatio;
                const context = viewport.layerCanvas.getContext("2d");
                const [x, y] = [Math.floor(point.x * ratio), Math.floor(point.y * ratio)];
                return Array.from(context.getImageData(x, y, 1, 1).data);
            }""",
            [column, row],
        )

    def assert_drawn(self, *, box: bool, heatmap: bool):
        edge = self.overlay_at(BOX[0], 20)
        assert (edge[1] > 200 and edge[0] < 80 and edge[3] > 200) if box else edge[3] == 0, edge
        assert self.overlay_at(20, 20)[3] == 0  # inside the box: nothing
        heat = self.overlay_at(sum(HEAT_COLUMNS) / 2, sum(HEAT_ROWS) / 2)
        if heatmap:
            # 60 % opacity of the colour map's top over nothing
            assert abs(heat[3] - 153) <= 3, heat
            assert all(abs(got - want) <= 4 for got, want in zip(heat[:3], INFERNO_TOP)), heat
        else:
            assert heat[3] == 0, heat
        assert self.overlay_at(HEAT_COLUMNS[0] - 3, sum(HEAT_ROWS) / 2)[3] == 0  # beside the heatmap
        assert self.overlay_at(58, 34)[3] == 0  # nowhere near anything

    def test_findings_and_heatmaps_drawn_toggled_jumped_to_and_arriving_live(self):
        SHOTS.mkdir(exist_ok=True)
        page = self.page
        study = chest_ct(slices=SLICES, size=SIZE, seed=3, site_code="SUWON", nodule_count=0)
        self.ingest(study.datasets)
        series = Series.objects.get(series_instance_uid=study.datasets[0].SeriesInstanceUID)
        sop_uids = [frame.instance.sop_instance_uid for frame in series_frames(series)]
        lung = make_model(colour=GREEN, operating_threshold=50, regulatory_clearance="MFDS 2024-123")
        payload = {
            "result_id": "lung-1",
            "model": model_ref(lung),
            "study_instance_uid": study.study_instance_uid,
            "case_score": 87.5,
            "summary": "One nodule, one mass",
            "findings": [
                {"type": "nodule", "label": "Solid nodule 8 mm", "score": 91.0,
                 "sop_instance_uid": sop_uids[FINDING_SLICE], "box": BOX},
                {"type": "nodule", "score": 20.0, "sop_instance_uid": sop_uids[FINDING_SLICE], "point": [52, 12]},
                {"type": "mass", "score": 70.0, "series_instance_uid": series.series_instance_uid, "box3d": MASS},
            ],
            "heatmaps": [
                {"series_instance_uid": series.series_instance_uid, "sop_instance_uid": sop_uids[FINDING_SLICE],
                 "frame": 1, "rows": SIZE, "columns": SIZE, "encoding": "png",
                 "data": base64.b64encode(heatmap_png(SIZE, SIZE, (*HEAT_ROWS, *HEAT_COLUMNS))).decode()},
            ],
        }  # fmt: skip
        # Playwright's sync API holds this thread's event loop, which the announcement would need.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(store_result, payload=payload, engine=None).result(timeout=30)

        self.open_viewer(study.study_instance_uid)
        panel = page.locator("#ai-panel")
        expect(panel).to_have_attribute("data-loads", "1", timeout=10_000)
        expect(panel).to_have_attribute("data-live-state", "open", timeout=10_000)
        expect(panel.locator(".ai-model-card")).to_have_count(1)
        expect(panel.locator(".ai-model-name")).to_have_text("Acme LungNet 2.1")
        expect(panel.locator(".ai-finding")).to_have_count(3)
        expect(panel.locator(".ai-finding").nth(0)).to_contain_text(f"Nodule 91Im {FINDING_SLICE + 1}")
        expect(panel.locator(".ai-finding.below")).to_contain_text("20 < 50")
        expect(panel.locator(".ai-finding").nth(2)).to_contain_text(f"Im {MASS_SLICES[0] + 1}–{MASS_SLICES[1] + 1}")

        # On the opening slice nothing of the AI; on the finding's slice the box and the heatmap.
        assert self.overlay_at(BOX[0], 20)[3] == 0
        page.locator(".viewport").first.hover()
        for _ in range(FINDING_SLICE):
            page.keyboard.press("ArrowDown")
        expect(self.corner("slice")).to_have_text(f"Im {FINDING_SLICE + 1} / {SLICES}")
        page.wait_for_timeout(200)  # the heatmap's bitmap is built on first sight
        self.assert_drawn(box=True, heatmap=True)
        page.screenshot(path=str(SHOTS / "ai-findings-1280x800.png"))

        # H hides every AI drawing, H again shows them.
        page.keyboard.press("h")
        self.assert_drawn(box=False, heatmap=False)
        expect(page.locator("#ai-visible")).not_to_be_checked()
        page.keyboard.press("h")
        self.assert_drawn(box=True, heatmap=True)

        # The model's checkbox hides its findings and heatmaps.
        model_box = panel.locator(".ai-model-card input[type=checkbox]")
        model_box.uncheck()
        self.assert_drawn(box=False, heatmap=False)
        model_box.check()
        self.assert_drawn(box=True, heatmap=True)

        # Outline: the iso-contour at the threshold, the inside left clear.
        panel.locator("input[name=ai-mode][value=outline]").check()
        page.wait_for_timeout(200)
        assert self.overlay_at(sum(HEAT_COLUMNS) / 2, sum(HEAT_ROWS) / 2)[3] == 0
        assert self.overlay_at(HEAT_COLUMNS[0] + 0.5, sum(HEAT_ROWS) / 2)[3] > 100
        panel.locator("input[name=ai-mode][value=fill]").check()

        # A click on the mass shows its middle slice with the mass in the middle of the viewport.
        panel.locator(".ai-finding").nth(2).click()
        middle = sum(MASS_SLICES) // 2
        expect(self.corner("slice")).to_have_text(f"Im {middle + 1} / {SLICES}")
        centre = page.evaluate(
            """([x, y]) => {
                const viewport = window.readingViewer.viewports[0];
                const point = viewport.imageToViewport(x, y);
                return [point.x - viewport.size.width / 2, point.y - viewport.size.height / 2];
            }""",
            [(MASS["min"][0] + MASS["max"][0]) / 2, (MASS["min"][1] + MASS["max"][1]) / 2],
        )
        assert all(abs(offset) <= 1 for offset in centre), centre
        assert self.overlay_at(MASS["min"][0], 14)[1] > 200  # its box on this slice too
        page.screenshot(path=str(SHOTS / "ai-mass-selected-1280x800.png"))

        # An engine posts a result while the study is open: it appears without a reload.
        stroke = make_model(vendor="Brainco", product="LesionNet", version="3", colour=MAGENTA, operating_threshold=40)
        _, key = make_engine(models=[stroke], sites=[self.suwon])
        posted = {
            "result_id": "brainco-1",
            "model": model_ref(stroke),
            "study_instance_uid": study.study_instance_uid,
            "case_score": 65.0,
            "triage_flag": True,
            "findings": [{"type": "lesion", "score": 65.0, "sop_instance_uid": sop_uids[middle],
                          "polygon": [[4, 40], [20, 40], [12, 58]]}],
        }  # fmt: skip
        request = urllib.request.Request(
            f"{self.live_server_url}/ai/api/v1/results/",
            data=json.dumps(posted).encode(),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (the test server)
            assert response.status == 201
        expect(panel.locator(".ai-model-card")).to_have_count(2, timeout=3_000)
        expect(panel.locator(".ai-model-card").nth(1)).to_contain_text("Brainco LesionNet 3")
        expect(panel.locator(".ai-urgent")).to_have_count(1)
        magenta = self.overlay_at(12, 40)  # on its top edge
        assert magenta[0] > 200 and magenta[2] > 200 and magenta[1] < 80, magenta
        assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
        page.screenshot(path=str(SHOTS / "ai-live-result-1280x800.png"))

        page.set_viewport_size({"width": 3840, "height": 2160})
        self.settle()
        page.screenshot(path=str(SHOTS / "ai-findings-3840x2160.png"))
        self.assert_no_script_errors()
