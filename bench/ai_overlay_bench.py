"""What the AI overlays cost the viewer, in Debian's chromium, in one run. Prints figures; not a test.

    .venv/bin/python bench/ai_overlay_bench.py [--rounds 3] [--slices 300] [--size 512]

Two chest CTs of the same size in one fresh archive (SQLite, daphne subprocess, as bench/viewer_bench.py
serves them): study A has no AI result; study B has one result of 20 findings and a heatmap on every
slice (stored through ai_overlays.intake.store_result, PNG). Rounds alternate A and B, each in a fresh
browser context (empty HTTP cache), and read:

- "first-image": the viewer's mark when the first frame is drawn, from navigation start;
- "overlays shown" (B only): when the findings panel has rendered the results and the layer drew them
  (a MutationObserver on the panel's data-loads attribute, installed before the page's scripts run);
- scrolling through the loaded series with every overlay on, one slice per animation frame.

The extra time to first image with overlays on is median(B first image) - median(A first image), and
the time until the overlays are on screen is B's "overlays shown"."""

import argparse
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))
sys.path.insert(0, str(PROJECT / "bench"))

from ai_intake_bench import encode, heatmap_slices, payload_for  # noqa: E402
from cstore_bench import free_port, stop, wait_for_port  # noqa: E402
from viewer_bench import CHROMIUM, CHROMIUM_ARGS, PASSWORD, SCROLL, USERNAME, environment  # noqa: E402

# Installed before the page's own scripts: the moment the AI panel first renders results.
WATCH_PANEL = """
new MutationObserver((changes, observer) => {
    const panel = document.querySelector(".ai-panel[data-loads]");
    if (panel && Number(panel.dataset.loads) >= 1) {
        requestAnimationFrame(() => performance.mark("overlays-shown"));
        observer.disconnect();
    }
}).observe(document, { subtree: true, attributes: true, attributeFilter: ["data-loads"] });
"""


def series_files(slices: int, size: int, seed: int) -> list[bytes]:
    import pydicom

    from dicomkit.synthetic import chest_ct

    files = []
    for dataset in chest_ct(slices=slices, size=size, seed=seed).datasets:
        buffer = io.BytesIO()
        pydicom.dcmwrite(buffer, dataset, enforce_file_format=True)
        files.append(buffer.getvalue())
    return files


def prepare(slices: int, size: int) -> tuple[str, str, float]:
    """Both studies ingested, the result stored on B; returns (A uid, B uid, seconds to store)."""
    import django

    django.setup()
    from django.core.management import call_command

    from accounts.models import Site, User
    from ai_overlays.intake import store_result
    from ai_overlays.models import AIModel
    from worklist.ingest import ingest
    from worklist.models import Study

    call_command("migrate", verbosity=0)
    site = Site.objects.create(code="SUWON", name="Suwon")
    reader = User.objects.create_user(USERNAME, password=PASSWORD, role="radiologist")
    reader.sites.set([site])
    uids = []
    for seed in (1, 2):
        for data in series_files(slices, size, seed):
            if not ingest(data, site=site, source="bench").ok:
                raise RuntimeError("ingest refused a file")
        uids.append(Study.objects.order_by("-id").first().study_instance_uid)
    study = Study.objects.get(study_instance_uid=uids[1])
    series = study.series.get()
    sop_uids = list(series.instances.order_by("instance_number").values_list("sop_instance_uid", flat=True))
    model = AIModel.objects.create(
        vendor="Bench", product="LungNet", version="1.0", clinical_area="lung", modalities="CT"
    )
    heatmaps = [encode(raw, size, "png") for raw in heatmap_slices(len(sop_uids), size)]
    payload = payload_for(study, series, sop_uids, model, heatmaps, encoding="png", size=size, result_id="bench-1")
    started = time.perf_counter()
    store_result(payload=payload, engine=None)
    return uids[0], uids[1], time.perf_counter() - started


def browser_round(browser, base: str, study_uid: str, with_ai: bool) -> dict:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=username]", USERNAME)
    page.fill("input[name=password]", PASSWORD)
    page.click("button.primary")
    page.wait_for_url(f"{base}/")
    page.add_init_script(WATCH_PANEL)
    page.goto(f"{base}/reading/studies/{study_uid}/")
    page.wait_for_selector("#viewer[data-all-loaded]", state="attached", timeout=120_000)
    if with_ai:
        page.wait_for_function("performance.getEntriesByName('overlays-shown').length > 0", timeout=60_000)
    marks = page.evaluate(
        """() => Object.fromEntries(performance.getEntriesByType("mark").map((mark) => [mark.name, mark.startTime]))"""
    )
    if with_ai:  # on screen once both the image and the drawn results are
        marks["overlays-shown"] = max(marks["overlays-shown"], marks["first-image"])
    else:
        marks.pop("overlays-shown", None)
    scrolled = page.evaluate(SCROLL, 3.0)
    context.close()
    return {**marks, **scrolled}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--slices", type=int, default=300)
    parser.add_argument("--size", type=int, default=512)
    arguments = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="ai-overlay-bench-") as temporary:
        work = Path(temporary)
        var = work / "var"
        var.mkdir()
        os.environ.update(environment(var))
        plain_uid, ai_uid, store_seconds = prepare(arguments.slices, arguments.size)
        print(f"two {arguments.slices}-slice CTs ingested; the AI result stored in {store_seconds:.1f} s")
        print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start")
        port = free_port()
        with open(work / "daphne.log", "wb") as log:
            server = subprocess.Popen(
                [sys.executable, str(PROJECT / "bench" / "viewer_bench.py"), "--serve", str(port)],
                cwd=PROJECT,
                env=os.environ,
                stdout=log,
                stderr=log,
            )
        results: dict[str, list[dict]] = {"without AI": [], "with AI": []}
        try:
            wait_for_port(port, server)
            base = f"http://localhost:{port}"
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                try:
                    for round_number in range(1, arguments.rounds + 1):
                        for label, uid, with_ai in (("without AI", plain_uid, False), ("with AI", ai_uid, True)):
                            figures = browser_round(browser, base, uid, with_ai)
                            results[label].append(figures)
                            shown = figures.get("overlays-shown")
                            print(
                                f"round {round_number} {label:>10}: first image {figures['first-image']:.0f} ms"
                                + (f", overlays shown {shown:.0f} ms" if shown else "")
                                + f", scrolling {figures['drawn'] / figures['elapsed']:.1f} slices/s",
                                flush=True,
                            )
                finally:
                    browser.close()
        finally:
            stop(server)
        report(results)


def report(results: dict[str, list[dict]]) -> None:
    def median(label: str, key: str) -> float:
        return statistics.median(figures[key] for figures in results[label])

    def rate(label: str) -> float:
        return statistics.median(figures["drawn"] / figures["elapsed"] for figures in results[label])

    print("\n| figure | without AI | with AI (20 findings, a heatmap per slice) |\n|---|---|---|")
    print(
        f"| first image, ms from navigation | {median('without AI', 'first-image'):.0f} | "
        f"{median('with AI', 'first-image'):.0f} |"
    )
    print(f"| overlays on screen, ms from navigation | - | {median('with AI', 'overlays-shown'):.0f} |")
    print(f"| slices drawn per second, scrolling | {rate('without AI'):.1f} | {rate('with AI'):.1f} |")
    extra = median("with AI", "first-image") - median("without AI", "first-image")
    print(f"extra time to first image with overlays on: {extra:+.0f} ms")


if __name__ == "__main__":
    main()
