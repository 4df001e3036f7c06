"""Fetching a 300-slice 512x512 CT into a viewer: our frames API (served by daphne, as in
production) against Orthanc's WADO-RS frames fetched the way OHIF does, measured in the same run
in alternating rounds. Prints figures; it is not a test.

    .venv/bin/python bench/series_fetch_bench.py [--rounds 5] [--frames-per-request 64] [--parallel 3]
                                                 [--client curl|python]

The CT of dicomkit.synthetic.chest_ct as the modality sends it (native little endian), and an
RLE-compressed copy of it as a second series. Ours: both imported through worklist.ingest into a
fresh SQLite archive in a temporary VAR_DIR, `daphne config.asgi:application` with DEBUG off and a
logged-in session; each series fetched as `/reading/api/series/<uid>/frames?start=S&count=N`
ranges, `--parallel` at once. Native frames are read from the archive every time (no decode
cache); the RLE copy is fetched with an empty decode cache ("cold": every frame decoded) and again
once the cache has filled ("warm": file reads). Orthanc: Debian's Orthanc 1.10 with its DICOMweb
plugin, the native files uploaded over REST, one `.../frames/1` request per instance with
`Accept: multipart/related; type=application/octet-stream; transfer-syntax=*`, six at once like a
browser. The client is curl's parallel transfers (C, like a browser's network stack) unless
`--client python`. Time to first frame: our manifest then the first frame, against Orthanc's
series metadata then its first frame, which is what OHIF needs before it can draw."""

import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(PROJECT))  # dicomkit and config are project packages; the bench runs as a script
sys.path.insert(0, str(BENCH))

from cstore_bench import Orthanc, free_port, stop, wait_for_port  # noqa: E402  (after the path)

PYTHON = sys.executable
SITE_CODE = "SUWON"
BROWSER_CONNECTIONS = 6  # what a browser opens to one host over HTTP/1.1


# --- the series ---------------------------------------------------------------------------------
def write_series(folder: Path, slices: int, size: int) -> tuple[list[Path], list[Path], dict, dict]:
    """The CT as the modality sends it (native) and an RLE-compressed copy as a second series of
    the same study: (native files, RLE files, native UIDs, RLE UIDs)."""
    from pydicom.uid import RLELossless, generate_uid

    from dicomkit.synthetic.chest_ct import chest_ct

    datasets = chest_ct(slices=slices, size=size, site_code=SITE_CODE).datasets
    native = _write(folder / "native", datasets)
    rle_series = generate_uid()
    for dataset in datasets:
        dataset.SeriesInstanceUID, dataset.SeriesNumber = rle_series, 3
        dataset.SOPInstanceUID = dataset.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        dataset.compress(RLELossless)
    compressed = _write(folder / "rle", datasets)
    return native[0], compressed[0], native[1], compressed[1]


def _write(folder: Path, datasets: list) -> tuple[list[Path], dict]:
    folder.mkdir(parents=True)
    paths = []
    for number, dataset in enumerate(datasets, start=1):
        path = folder / f"IM{number:04d}.dcm"
        dataset.save_as(path, enforce_file_format=True)
        paths.append(path)
    first = datasets[0]
    uids = {"study": first.StudyInstanceUID, "series": first.SeriesInstanceUID}
    uids["instances"] = [dataset.SOPInstanceUID for dataset in datasets]
    return paths, uids


# --- our server ---------------------------------------------------------------------------------
class Ours:
    def __init__(self, work: Path):
        self.work = work
        self.environment = {
            **os.environ,
            "DEBUG": "false",
            "VAR_DIR": str(work / "var"),
            "DATABASE_URL": f"sqlite:///{work / 'var' / 'bench.sqlite3'}",
            "STORAGE_DIR": str(work / "var" / "archive"),
            "ALLOWED_HOSTS": "127.0.0.1",
            "LOG_LEVEL": "WARNING",
        }
        self.process: subprocess.Popen | None = None
        self.port = 0
        self.session = ""

    def prepare(self, series_folder: Path) -> None:
        subprocess.run(
            [PYTHON, "manage.py", "migrate", "--verbosity", "0"], cwd=PROJECT, env=self.environment, check=True
        )
        started = time.perf_counter()
        completed = subprocess.run(
            [PYTHON, __file__, "--import-into-archive", str(series_folder / "native"), str(series_folder / "rle")],
            cwd=PROJECT,
            env=self.environment,
            check=True,
            capture_output=True,
            text=True,
        )
        self.session = completed.stdout.strip().splitlines()[-1]
        print(f"ours: imported through worklist.ingest in {time.perf_counter() - started:.1f} s")

    def start(self) -> None:
        self.port = free_port()
        command = [
            str(Path(PYTHON).parent / "daphne"),
            "-b",
            "127.0.0.1",
            "-p",
            str(self.port),
            "config.asgi:application",
        ]
        with open(self.work / "daphne.log", "wb") as log:
            self.process = subprocess.Popen(command, cwd=PROJECT, env=self.environment, stdout=log, stderr=log)
        wait_for_port(self.port, self.process)

    def empty_decode_cache(self) -> None:
        shutil.rmtree(self.work / "var" / "decoded", ignore_errors=True)

    def wait_for_decode_cache(self, frames: int) -> None:
        """The server writes decoded frames in the background: "warm" starts once all are there."""
        deadline = time.monotonic() + 60
        while sum(1 for _ in (self.work / "var" / "decoded").rglob("*.int16")) < frames:
            if time.monotonic() > deadline:
                raise RuntimeError("the decode cache did not fill up")
            time.sleep(0.05)

    def headers(self) -> dict[str, str]:
        return {"Cookie": f"sessionid={self.session}"}

    def close(self) -> None:
        if self.process is not None:
            stop(self.process)


def import_into_archive(folders: list[Path]) -> None:
    """Run in a subprocess with the bench's environment: ingest the series, make a radiologist
    with a session, print the session key."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.test import Client

    from accounts.models import Site, User
    from worklist.ingest import ingest

    site, _ = Site.objects.get_or_create(code=SITE_CODE, defaults={"name": "Bench"})
    for path in sorted(path for folder in folders for path in folder.glob("*.dcm")):
        result = ingest(path.read_bytes(), site=site, source="bench")
        if not result.ok:
            raise SystemExit(f"{path.name} refused: {result.reason}")
    user = User.objects.create_user("bench.reader", role="radiologist")
    user.sites.set([site])
    client = Client()
    client.force_login(user)
    print(client.cookies["sessionid"].value)


# --- HTTP -----------------------------------------------------------------------------------------
class Connections:
    """One keep-alive connection per thread, as a browser keeps one per parallel request. Bodies
    are read into a buffer kept per thread, as a viewer fills a typed array: a fresh 32 MB bytes
    object per response would cost the client more page faults than the server spends."""

    def __init__(self, port: int, headers: dict[str, str]):
        self.port = port
        self.headers = headers
        self.local = threading.local()

    def get(self, path: str, headers: dict[str, str] | None = None) -> memoryview:
        connection = getattr(self.local, "connection", None)
        if connection is None:
            connection = self.local.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            self.local.buffer = bytearray(1 << 20)
        connection.request("GET", path, headers={**self.headers, **(headers or {})})
        response = connection.getresponse()
        if response.status != 200:
            raise RuntimeError(f"GET {path} answered {response.status}: {response.read()[:300]!r}")
        length = int(response.getheader("Content-Length") or 0)
        if not length:
            return memoryview(response.read())
        if len(self.local.buffer) < length:
            self.local.buffer = bytearray(length)
        view = memoryview(self.local.buffer)[:length]
        received = 0
        while received < length:
            count = response.readinto(view[received:])
            if not count:
                raise RuntimeError(f"GET {path}: the body ended after {received} of {length} bytes")
            received += count
        return view

    def close(self) -> None:
        connection = getattr(self.local, "connection", None)
        if connection is not None:
            connection.close()


def fetch_all(connections: Connections, paths: list[str], parallel: int, headers=None) -> tuple[float, int]:
    """Seconds until every path has been received, `parallel` requests at once; bytes received."""
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        sizes = list(pool.map(lambda path: len(connections.get(path, headers)), paths))
    return time.perf_counter() - started, sum(sizes)


def fetch_all_with_curl(port: int, paths: list[str], parallel: int, headers: dict[str, str]) -> tuple[float, int]:
    """The same with curl's parallel transfers: a client in C, as a browser's network stack is,
    where Python's threads would share one interpreter lock."""
    lines = [f'url = "http://127.0.0.1:{port}{path}"\noutput = "/dev/null"' for path in paths]
    command = ["curl", "--silent", "--fail", "--parallel", "--parallel-immediate", "--parallel-max", str(parallel)]
    for name, value in headers.items():
        command += ["--header", f"{name}: {value}"]
    command += ["--write-out", "%{size_download}\n", "--config", "-"]
    started = time.perf_counter()
    completed = subprocess.run(command, input="\n".join(lines), capture_output=True, text=True, check=True)
    elapsed = time.perf_counter() - started
    return elapsed, sum(int(size) for size in completed.stdout.split())


# --- the measurements ---------------------------------------------------------------------------------
def our_series_paths(uids: dict, count: int, per_request: int) -> list[str]:
    base = f"/reading/api/series/{uids['series']}/frames"
    return [f"{base}?start={start}&count={per_request}" for start in range(0, count, per_request)]


def orthanc_frame_path(uids: dict, instance: str) -> str:
    return f"/dicom-web/studies/{uids['study']}/series/{uids['series']}/instances/{instance}/frames/1"


OHIF_FRAME_ACCEPT = {"Accept": "multipart/related; type=application/octet-stream; transfer-syntax=*"}


def ours_first_frame(ours: Ours, uids: dict) -> float:
    """What the viewer does first: the manifest, then the first frame of the first series."""
    connections = Connections(ours.port, ours.headers())
    started = time.perf_counter()
    manifest = json.loads(bytes(connections.get(f"/reading/api/studies/{uids['study']}/manifest")))
    connections.get(manifest["series"][0]["frames"][0]["url"])
    elapsed = time.perf_counter() - started
    connections.close()
    return elapsed


def orthanc_first_frame(port: int, uids: dict) -> float:
    connections = Connections(port, {})
    started = time.perf_counter()
    metadata = connections.get(
        f"/dicom-web/studies/{uids['study']}/series/{uids['series']}/metadata", {"Accept": "application/dicom+json"}
    )
    first = json.loads(bytes(metadata))[0]["00080018"]["Value"][0]
    connections.get(orthanc_frame_path(uids, first), OHIF_FRAME_ACCEPT)
    elapsed = time.perf_counter() - started
    connections.close()
    return elapsed


def run(arguments: argparse.Namespace, work: Path) -> None:
    started = time.perf_counter()
    files, rle_files, uids, rle_uids = write_series(work / "series", arguments.slices, arguments.size)
    megabytes = sum(path.stat().st_size for path in files) / 1e6
    rle_megabytes = sum(path.stat().st_size for path in rle_files) / 1e6
    print(
        f"series: {len(files)} files, {megabytes:.1f} MB native, {rle_megabytes:.1f} MB as RLE, "
        f"made in {time.perf_counter() - started:.1f} s"
    )
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start")

    ours = Ours(work / "ours")
    (work / "ours" / "var").mkdir(parents=True)
    orthanc = Orthanc("Orthanc", "ORTHANC", work / "orthanc")
    orthanc.work.mkdir(parents=True)
    try:
        ours.prepare(work / "series")
        ours.start()
        orthanc.start(1)
        for path in files:
            request = urllib.request.Request(
                f"http://127.0.0.1:{orthanc.http_port}/instances",
                data=path.read_bytes(),
                headers={"Content-Type": "application/dicom"},
            )
            urllib.request.urlopen(request, timeout=60).close()
        print(f"orthanc: {orthanc.count()} instances uploaded over REST")
        measure(arguments, ours, orthanc, uids, rle_uids, len(files))
    finally:
        ours.close()
        orthanc.close()
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


def measure(arguments, ours: Ours, orthanc: Orthanc, uids: dict, rle_uids: dict, count: int) -> None:
    expected_bytes = count * arguments.size * arguments.size * 2
    our_paths = our_series_paths(uids, count, arguments.frames_per_request)
    our_rle_paths = our_series_paths(rle_uids, count, arguments.frames_per_request)
    orthanc_paths = [orthanc_frame_path(uids, instance) for instance in uids["instances"]]
    ours_first_frame(ours, uids)  # Python's imports and the header probe, as a running server has them
    figures: dict[str, list[float]] = {}

    def fetch(port: int, paths: list[str], parallel: int, headers: dict[str, str]) -> tuple[float, int]:
        if arguments.client == "curl":
            elapsed, received = fetch_all_with_curl(port, paths, parallel, headers)
        else:
            elapsed, received = fetch_all(Connections(port, headers), paths, parallel)
        # Multipart bodies carry a boundary and a header per part on top of the frames.
        if received < expected_bytes or (port == ours.port and received != expected_bytes):
            raise RuntimeError(f"port {port} sent {received} bytes, {expected_bytes} expected")
        return elapsed

    def ours_native() -> float:
        return fetch(ours.port, our_paths, arguments.parallel, ours.headers())

    def ours_rle_cold() -> float:
        ours.empty_decode_cache()
        return fetch(ours.port, our_rle_paths, arguments.parallel, ours.headers())

    def ours_rle_warm() -> float:
        ours.wait_for_decode_cache(count)
        return fetch(ours.port, our_rle_paths, arguments.parallel, ours.headers())

    def orthanc_all() -> float:
        return fetch(orthanc.http_port, orthanc_paths, BROWSER_CONNECTIONS, OHIF_FRAME_ACCEPT)

    steps: list[tuple[str, Callable[[], float]]] = [
        (OURS_NATIVE, ours_native),
        (ORTHANC, orthanc_all),
        (FIRST_OURS, lambda: ours_first_frame(ours, uids)),
        (FIRST_ORTHANC, lambda: orthanc_first_frame(orthanc.http_port, uids)),
        (OURS_RLE_COLD, ours_rle_cold),
        (OURS_RLE_WARM, ours_rle_warm),
    ]
    for round_number in range(1, arguments.rounds + 1):
        # Orthanc goes first in even rounds (page cache, noisy neighbours).
        order = steps if round_number % 2 else [steps[1], steps[0], steps[3], steps[2], *steps[4:]]
        for name, step in order:
            elapsed = step()
            figures.setdefault(name, []).append(elapsed)
            print(f"round {round_number}  {name:<52} {elapsed * 1000:8.1f} ms", flush=True)
    report(figures, count, arguments)


OURS_NATIVE = "ours, series as stored (native: read from the archive)"
ORTHANC = "Orthanc WADO-RS, one request per frame"
FIRST_OURS = "first frame: ours (manifest + frame)"
FIRST_ORTHANC = "first frame: Orthanc (series metadata + frame)"
OURS_RLE_COLD = "ours, RLE copy, cold decode cache"
OURS_RLE_WARM = "ours, RLE copy, warm decode cache"


def report(figures: dict[str, list[float]], count: int, arguments) -> None:
    print(
        f"\n{count} frames of {arguments.size}x{arguments.size} int16, median of {arguments.rounds} rounds "
        f"(ours: {arguments.frames_per_request} frames a request, {arguments.parallel} at once; "
        f"Orthanc: one frame a request, {BROWSER_CONNECTIONS} at once; client: {arguments.client})"
    )
    print("| what | median ms | rounds (ms) |\n|---|---|---|")
    medians = {}
    for name, values in figures.items():
        medians[name] = statistics.median(values)
        listed = ", ".join(f"{value * 1000:.0f}" for value in values)
        print(f"| {name} | {medians[name] * 1000:.1f} | {listed} |")
    for name in (OURS_NATIVE, OURS_RLE_COLD, OURS_RLE_WARM):
        print(f"{name}: {medians[ORTHANC] / medians[name]:.2f} x Orthanc's speed")
    print(f"first frame: ours {medians[FIRST_OURS] * 1000:.1f} ms, Orthanc {medians[FIRST_ORTHANC] * 1000:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--slices", type=int, default=300)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--frames-per-request", type=int, default=64)
    parser.add_argument("--parallel", type=int, default=3)
    parser.add_argument(
        "--client", choices=("curl", "python"), default="curl", help="who fetches the frames (curl: parallel, in C)"
    )
    parser.add_argument("--import-into-archive", type=Path, nargs="+", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.import_into_archive:
        import_into_archive(arguments.import_into_archive)
        return
    if shutil.which("Orthanc") is None:
        sys.exit("Orthanc is missing: apt-get install -y orthanc orthanc-dicomweb")
    with tempfile.TemporaryDirectory(prefix="series-fetch-bench-") as temporary:
        run(arguments, Path(temporary))


if __name__ == "__main__":
    main()
