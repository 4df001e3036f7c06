"""The viewer in Debian's chromium against our server, beside Orthanc's WADO-RS, in one run.
Prints figures; it is not a test.

    .venv/bin/python bench/viewer_bench.py [--rounds 3] [--slices 300] [--size 512] [--scroll-seconds 3]

Our server: daphne (a subprocess, loopback, DEBUG off, static files served by Django's ASGI static
handler) on a fresh SQLite database and archive in a temporary VAR_DIR, holding the chest CT of
dicomkit.synthetic.chest_ct. Each round opens the study in a fresh browser context (empty HTTP
cache) and reads the viewer's performance marks: "first-image" (the first frame drawn) and
"all-loaded" (every frame of the study in a GPU texture), both from navigation start. Round 1
meets a cold server decode cache; later rounds a warm one. Then it scrolls programmatically for a
few seconds, one slice per requestAnimationFrame, and counts the images the renderer drew.

Orthanc (Debian's, started as bench/cstore_bench.py starts it, with its DICOMweb plugin) gets
the same instances; its 300 frames are fetched through WADO-RS .../frames/1 from Python over six
persistent HTTP connections at once, as a browser would open them (a page served by our origin
cannot fetch Orthanc's: Orthanc 1.10 sends no CORS headers). Our single-frame endpoint is fetched
the same way from Python too, for a like-for-like server figure, and so are our series ranges as
the viewer asks for them (the first frame, then the rest in three ranges at once). Each browser
round also reports the CPU seconds that chromium's processes (renderer, GPU, browser) and our
server spent, which say more than wall time on a shared machine. Headless chromium draws WebGL with
SwiftShader (software): the scrolling figure is a CPU figure here, not a GPU one."""

import argparse
import io
import json
import os
import queue
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.client import HTTPConnection
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))  # the bench runs as a script; dicomkit and config are project packages
sys.path.insert(0, str(PROJECT / "bench"))

from cstore_bench import Orthanc, free_port, stop, wait_for_port  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost",
]
USERNAME, PASSWORD = "bench.reader", "bench-password-1"  # noqa: S105  (a throwaway local account)
PARALLEL_CONNECTIONS = 6  # what a browser opens per host


def serve(port: int) -> None:
    """The server subprocess: our ASGI application under daphne, static files included."""
    import django
    from daphne.server import Server

    django.setup()
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    from config.asgi import application

    Server(
        application=ASGIStaticFilesHandler(application),
        endpoints=[f"tcp:port={port}:interface=127.0.0.1"],
        verbosity=0,
    ).run()


def environment(var: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "false",
        "VAR_DIR": str(var),
        "DATABASE_URL": f"sqlite:///{var / 'bench.sqlite3'}",
        "STORAGE_DIR": str(var / "archive"),
        "LOG_LEVEL": "WARNING",
        "TASKS_BACKEND": "immediate",
    }


def prepare_archive(files: list[bytes]) -> str:
    """Migrate, create the site and the reader, ingest the series; returns the study UID."""
    import django

    django.setup()
    from django.core.management import call_command

    from accounts.models import Site, User
    from worklist.ingest import ingest

    call_command("migrate", verbosity=0)
    site = Site.objects.create(code="SUWON", name="Suwon")
    reader = User.objects.create_user(USERNAME, password=PASSWORD, role="radiologist")
    reader.sites.set([site])
    study_uid = ""
    for data in files:
        result = ingest(data, site=site, source="bench")
        if not result.ok:
            raise RuntimeError(f"ingest refused a file: {result}")
    from worklist.models import Study

    study_uid = Study.objects.get().study_instance_uid
    return study_uid


def encoded_series(slices: int, size: int) -> tuple[list[bytes], list]:
    import pydicom

    from dicomkit.synthetic import chest_ct

    datasets = chest_ct(slices=slices, size=size).datasets
    files = []
    for dataset in datasets:
        buffer = io.BytesIO()
        pydicom.dcmwrite(buffer, dataset, enforce_file_format=True)
        files.append(buffer.getvalue())
    return files, datasets


# --- fetching from Python, as a browser would: six connections at once ----------------------------
def fetch_all(port: int, paths: list[str], headers: dict[str, str]) -> tuple[float, int]:
    """GET every path over PARALLEL_CONNECTIONS persistent connections; (seconds, bytes)."""
    work: queue.Queue[str] = queue.Queue()
    for path in paths:
        work.put(path)
    received = [0] * PARALLEL_CONNECTIONS
    failures: list[str] = []

    def worker(slot: int) -> None:
        connection = HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            try:
                path = work.get_nowait()
            except queue.Empty:
                break
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            body = response.read()
            if response.status != 200:
                failures.append(f"{path}: {response.status} {body[:200]!r}")
            received[slot] += len(body)
        connection.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(slot,)) for slot in range(PARALLEL_CONNECTIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError("fetch failed:\n" + "\n".join(failures[:5]))
    return elapsed, sum(received)


def orthanc_frame_paths(datasets) -> list[str]:
    return [
        f"/dicom-web/studies/{dataset.StudyInstanceUID}/series/{dataset.SeriesInstanceUID}"
        f"/instances/{dataset.SOPInstanceUID}/frames/1"
        for dataset in datasets
    ]


def upload_to_orthanc(http_port: int, files: list[bytes]) -> None:
    for data in files:
        request = urllib.request.Request(
            f"http://127.0.0.1:{http_port}/instances", data=data, headers={"Content-Type": "application/dicom"}
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()


# --- the browser ----------------------------------------------------------------------------------
SCROLL = """async (seconds) => {
    const viewer = window.readingViewer;
    const viewport = viewer.activeViewport;
    const count = viewport.series.count;
    const before = viewer.stats.imagesDrawn;
    let displayFrames = 0;
    let index = viewport.frameIndex;
    const start = performance.now();
    await new Promise((done) => {
        function step(now) {
            if (now - start >= seconds * 1000) return done();
            index = (index + 1) % count;
            viewport.setFrame(index);
            displayFrames += 1;
            requestAnimationFrame(step);
        }
        requestAnimationFrame(step);
    });
    await new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)));
    const elapsed = (performance.now() - start) / 1000;
    return { drawn: viewer.stats.imagesDrawn - before, displayFrames, elapsed };
}"""


def _process_tree(pid: int) -> list[int]:
    """The process and its descendants (children of any of its threads: chromium forks from one)."""
    children = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children += (task / "children").read_text().split()
        except FileNotFoundError:
            continue
    return [pid] + [descendant for child in children for descendant in _process_tree(int(child))]


def cpu_seconds(pids: list[int], server_pid: int) -> dict[str, float]:
    """User + system CPU so far by kind: our server, chromium's processes by --type, the rest."""
    spent: dict[str, float] = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            command = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except FileNotFoundError:
            continue
        # chromium rewrites its children's command lines with spaces between the arguments
        typed = re.search(r"--type=([\w-]+)", command)
        kind = typed.group(1) if typed else ""
        if pid == server_pid:
            kind = "server"
        elif not kind:
            kind = "browser" if "chrom" in command else "driver"
        spent[kind] = spent.get(kind, 0.0) + (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return spent


def browser_round(browser, base: str, study_uid: str, scroll_seconds: float, query: str, server_pid: int) -> dict:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=username]", USERNAME)
    page.fill("input[name=password]", PASSWORD)
    page.click("button.primary")
    page.wait_for_url(f"{base}/")
    before = cpu_seconds(_process_tree(os.getpid()) + [server_pid], server_pid)
    page.goto(f"{base}/reading/studies/{study_uid}/{query}")
    page.wait_for_selector("#viewer[data-all-loaded]", state="attached", timeout=120_000)
    after = cpu_seconds(_process_tree(os.getpid()) + [server_pid], server_pid)
    cpu = {kind: seconds - before.get(kind, 0.0) for kind, seconds in after.items()}
    marks = page.evaluate(
        """() => Object.fromEntries(performance.getEntriesByType("mark").map((mark) => [mark.name, mark.startTime]))"""
    )
    info = page.evaluate(
        """() => {
            const gl = document.createElement("canvas").getContext("webgl2");
            const debug = gl && gl.getExtension("WEBGL_debug_renderer_info");
            return {
                renderer: window.readingViewer.stats.renderer,
                gpu: debug ? gl.getParameter(debug.UNMASKED_RENDERER_WEBGL) : "",
                frames: window.readingViewer.activeViewport.series.count,
            };
        }"""
    )
    timeline = page.evaluate(
        """() => {
            const entries = performance.getEntriesByType("resource");
            const manifest = entries.find((entry) => entry.name.includes("/manifest"));
            const frames = entries.filter((entry) => entry.name.includes("/frames"));
            frames.sort((one, other) => one.startTime - other.startTime);
            return {
                manifestStart: manifest.startTime,
                manifestEnd: manifest.responseEnd,
                firstFrameStart: frames[0].startTime,
                firstFrameEnd: frames[0].responseEnd,
                frameRequests: frames.length,
            };
        }"""
    )
    scrolled = page.evaluate(SCROLL, scroll_seconds)
    context.close()
    return {**marks, **info, **timeline, **scrolled, "cpu": cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--slices", type=int, default=300)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--scroll-seconds", type=float, default=3.0)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.serve:
        serve(arguments.serve)
        return
    for tool in ("Orthanc", CHROMIUM):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is missing: apt-get install -y orthanc orthanc-dicomweb chromium")

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="viewer-bench-") as temporary:
        work = Path(temporary)
        var = work / "var"
        var.mkdir()
        os.environ.update(environment(var))
        started = time.perf_counter()
        files, datasets = encoded_series(arguments.slices, arguments.size)
        megabytes = sum(len(data) for data in files) / 1e6
        print(f"series: {len(files)} instances, {megabytes:.1f} MB, made in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        study_uid = prepare_archive(files)
        print(f"ingested into our archive in {time.perf_counter() - started:.1f} s")
        print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start")

        port = free_port()
        with open(work / "daphne.log", "wb") as log:
            server = subprocess.Popen(
                [sys.executable, __file__, "--serve", str(port)], cwd=PROJECT, env=os.environ, stdout=log, stderr=log
            )
        orthanc = Orthanc("Orthanc", "ORTHANC", work / "orthanc")
        orthanc.work.mkdir()
        try:
            wait_for_port(port, server)
            orthanc.start(1)
            wait_for_port(orthanc.http_port, orthanc.process)
            upload_to_orthanc(orthanc.http_port, files)
            results = run_rounds(arguments, port, server.pid, study_uid, orthanc, datasets, sync_playwright)
        finally:
            stop(server)
            orthanc.close()
            if server.returncode not in (0, -signal.SIGTERM):
                print((work / "daphne.log").read_text()[-3000:])
        report(results, len(files), megabytes)


def our_frame_paths(port: int, study_uid: str) -> list[str]:
    """Our single-frame URLs from the manifest, read with a logged-in session."""
    connection = HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request("GET", "/accounts/login/")
    response = connection.getresponse()
    response.read()
    cookies = {
        part.split("=", 1)[0]: part.split("=", 1)[1].split(";")[0] for part in response.headers.get_all("Set-Cookie")
    }
    body = f"username={USERNAME}&password={PASSWORD}&csrfmiddlewaretoken={cookies['csrftoken']}"
    connection.request(
        "POST",
        "/accounts/login/",
        body=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"csrftoken={cookies['csrftoken']}",
            "Referer": f"http://127.0.0.1:{port}/accounts/login/",
        },
    )
    response = connection.getresponse()
    response.read()
    session = next(
        part.split("=", 1)[1].split(";")[0]
        for part in response.headers.get_all("Set-Cookie")
        if part.startswith("sessionid=")
    )
    cookie = f"sessionid={session}"
    connection.request("GET", f"/reading/api/studies/{study_uid}/manifest", headers={"Cookie": cookie})
    response = connection.getresponse()
    manifest = json.loads(response.read())
    connection.close()
    return [frame["url"] for series in manifest["series"] for frame in series["frames"]], cookie


def fetch_ranges(port: int, study_uid: str, cookie: str) -> tuple[float, int]:
    """Our series as the viewer fetches it: frame 0 alone, then the rest in three ranges at once."""
    connection = HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request("GET", f"/reading/api/studies/{study_uid}/manifest", headers={"Cookie": cookie})
    series = json.loads(connection.getresponse().read())["series"][0]
    connection.close()
    count, url, version = series["frame_count"], series["frames_url"], series["frames_version"]
    per_range = -(-(count - 1) // 3)
    first = f"{url}?start=0&count=1&v={version}"
    rest = [f"{url}?start={start}&count={per_range}&v={version}" for start in range(1, count, per_range)]
    first_seconds, first_bytes = fetch_all(port, [first], {"Cookie": cookie})
    rest_seconds, rest_bytes = fetch_all(port, rest, {"Cookie": cookie})
    return first_seconds + rest_seconds, first_bytes + rest_bytes


# The viewer's choice here (no GPU: the 2D canvas) and WebGL2 forced (SwiftShader rasterises it).
MODES = {"auto": "", "webgl2": "?renderer=webgl2"}


def run_rounds(arguments, port, server_pid, study_uid, orthanc, datasets, sync_playwright) -> dict:
    results: dict = {"browser": {mode: [] for mode in MODES}, "orthanc": [], "ours_python": [], "ours_ranges": []}
    base = f"http://localhost:{port}"  # the resolver rule above maps every other name, IPs included
    orthanc_paths = orthanc_frame_paths(datasets)
    orthanc_headers = {"Accept": 'multipart/related; type="application/octet-stream"; transfer-syntax=*'}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for round_number in range(1, arguments.rounds + 1):
                for mode, query in MODES.items():
                    figures = browser_round(browser, base, study_uid, arguments.scroll_seconds, query, server_pid)
                    cpu = figures["cpu"]
                    results["browser"][mode].append(figures)
                    print(
                        f"round {round_number} {mode:>6} ({figures['renderer']}): "
                        f"first image {figures['first-image']:.0f} ms, all loaded {figures['all-loaded']:.0f} ms, "
                        f"scrolling {figures['drawn'] / figures['elapsed']:.1f} slices/s "
                        f"({figures['displayFrames'] / figures['elapsed']:.1f} animation frames/s); "
                        f"manifest {figures['manifestStart']:.0f}-{figures['manifestEnd']:.0f} ms, "
                        f"first frame {figures['firstFrameStart']:.0f}-{figures['firstFrameEnd']:.0f} ms, "
                        f"{figures['frameRequests']} frame requests; CPU s: "
                        + ", ".join(f"{kind} {spent:.2f}" for kind, spent in sorted(cpu.items()) if spent >= 0.01),
                        flush=True,
                    )
                orthanc_seconds, orthanc_bytes = fetch_all(orthanc.http_port, orthanc_paths, orthanc_headers)
                results["orthanc"].append(orthanc_seconds)
                paths, cookie = our_frame_paths(port, study_uid)
                ours_seconds, ours_bytes = fetch_all(port, paths, {"Cookie": cookie})
                results["ours_python"].append(ours_seconds)
                ranges_seconds, ranges_bytes = fetch_ranges(port, study_uid, cookie)
                results["ours_ranges"].append(ranges_seconds)
                print(
                    f"round {round_number} Python, {len(paths)} single-frame GETs on 6 connections: "
                    f"Orthanc WADO-RS {orthanc_seconds * 1000:.0f} ms ({orthanc_bytes / 1e6:.0f} MB), "
                    f"ours {ours_seconds * 1000:.0f} ms ({ours_bytes / 1e6:.0f} MB); "
                    f"ours as the viewer asks (1 + 3 ranges) {ranges_seconds * 1000:.0f} ms "
                    f"({ranges_bytes / 1e6:.0f} MB)",
                    flush=True,
                )
        finally:
            browser.close()
    return results


def _listed(values: list[float]) -> str:
    return ", ".join(f"{value:.0f}" if value >= 10 else f"{value:.1f}" for value in values)


def _row(figure: str, renderer: str, values: list[float], target: str) -> str:
    listed = ", ".join(f"{value:.0f}" if value >= 10 else f"{value:.1f}" for value in values)
    return f"| {figure} | {renderer} | {statistics.median(values):.0f} | {listed} | {target} |"


def report(results: dict, count: int, megabytes: float) -> None:
    orthanc = [seconds * 1000 for seconds in results["orthanc"]]
    ours = [seconds * 1000 for seconds in results["ours_python"]]
    if not orthanc:
        return
    print(f"\nviewer, {count}-slice CT ({megabytes:.0f} MB of DICOM), median of rounds (round 1: cold server cache)")
    print("| figure | renderer | median | rounds | target |\n|---|---|---|---|---|")
    loaded_by_mode = {}
    for mode, rounds in results["browser"].items():
        renderer = f"{rounds[0]['renderer']} ({mode})"
        loaded = [figures["all-loaded"] for figures in rounds]
        loaded_by_mode[mode] = statistics.median(loaded)
        print(_row("first image, ms from navigation", renderer, [f["first-image"] for f in rounds], "< 300"))
        print(_row("every frame loaded, ms from navigation", renderer, loaded, "< 500"))
        print(_row("slices drawn per second, scrolling", renderer, [f["drawn"] / f["elapsed"] for f in rounds], "60"))
    print(_row(f"Orthanc WADO-RS, {count} frames, Python, 6 connections, ms", "-", orthanc, "reference"))
    print(_row("our single-frame endpoint the same way, ms", "-", ours, ""))
    ranges = [seconds * 1000 for seconds in results["ours_ranges"]]
    print(_row("our series ranges as the viewer asks (1 + 3 ranges), Python, ms", "-", ranges, ""))
    reference = statistics.median(orthanc)
    for mode, loaded in loaded_by_mode.items():
        print(f"every frame loaded in the browser ({mode}) / Orthanc's Python fetch: {loaded / reference:.2f}")
    print(f"our endpoint / Orthanc's, both single frames from Python: {statistics.median(ours) / reference:.2f}")
    ranges_ratio = statistics.median(ranges) / reference
    print(f"our ranges as the viewer asks / Orthanc's single frames, Python: {ranges_ratio:.2f}")
    for mode, rounds in results["browser"].items():
        kinds = sorted({kind for figures in rounds for kind in figures["cpu"]})
        spent = {kind: statistics.median(figures["cpu"].get(kind, 0.0) for figures in rounds) for kind in kinds}
        listed = ", ".join(f"{kind} {seconds:.2f}" for kind, seconds in spent.items() if seconds >= 0.01)
        print(f"CPU seconds per load ({mode}), median: {listed}")
    gpu = next(iter(results["browser"].values()))[0]["gpu"]
    print(f"WebGL here: {gpu}; 'loaded' is every frame in a GPU texture (webgl2) or in memory (canvas2d)")


if __name__ == "__main__":
    main()
