"""C-STORE ingest of a 300-slice 512x512 CT: Orthanc, dcmtk's storescp discarding what it gets,
a bare pynetdicom SCP, our SCP storing nothing and our listener, measured in the same run in
alternating rounds. Prints figures; it is not a test.

    .venv/bin/python bench/cstore_bench.py [--rounds 3] [--associations 1,2]
                                           [--database-url postgres://postgres@127.0.0.1/NAME]

Every receiver starts on free loopback ports with its storage in a temporary folder and gets an
empty archive before each round. The sender is always `TCP_NODELAY=1 storescu` (dcmtk keeps
Nagle's algorithm on otherwise); with --associations 2 the series is split in two halves sent by
two storescu processes at once (our listener then runs one process per association). Server CPU
is utime + stime of the receiver's processes, read once they are idle again, so work deferred
past the last acknowledgement (our pixel checks) counts too."""

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))  # dicomkit is a project package; the bench runs as a script

PYTHON = sys.executable
SENDER_AE = "BENCHSCU"
SITE_CODE = "SUWON"
ORTHANC_DICOMWEB_PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"
REFERENCES = ("Orthanc", "dcmtk storescp --ignore", "bare pynetdicom", "our SCP, no storage")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def process_tree(pid: int) -> list[int]:
    """The process and its descendants (our listener's worker processes)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    tree = [pid]
    for member in tree:
        tree += [child for child, parent in parents.items() if parent == member]
    return tree


def cpu_seconds(pid: int) -> float:
    """utime + stime of all threads of the process and its descendants."""
    total = 0
    for member in process_tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def cpu_once_idle(pid: int, quiet_seconds: float = 0.3) -> float:
    """CPU seconds of the process tree once it has stopped using CPU."""
    deadline = time.monotonic() + 120
    previous = cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(quiet_seconds)
        current = cpu_seconds(pid)
        if current - previous < 0.02:
            return current
        previous = current
    return previous


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"receiver exited with {process.returncode} before listening")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def write_series(folder: Path, slices: int, size: int) -> list[Path]:
    from dicomkit.synthetic.chest_ct import chest_ct

    folder.mkdir(parents=True)
    paths = []
    for number, dataset in enumerate(chest_ct(slices=slices, size=size).datasets, start=1):
        path = folder / f"IM{number:04d}.dcm"
        dataset.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


# --- receivers ----------------------------------------------------------------------------------
@dataclass
class Receiver:
    name: str
    ae_title: str
    work: Path
    port: int = 0
    process: subprocess.Popen | None = None
    rates: dict[int, list[float]] = field(default_factory=dict)
    cpu_ms: dict[int, list[float]] = field(default_factory=dict)

    def start(self, associations: int) -> None:
        raise NotImplementedError

    def reset(self) -> None:
        """Empty the archive before a round."""

    def count(self) -> int | None:
        """Instances held after a round (None: this receiver keeps nothing)."""
        return None

    def close(self) -> None:
        if self.process is not None:
            stop(self.process)


class Orthanc(Receiver):
    def start(self, associations: int) -> None:
        self.port, self.http_port = free_port(), free_port()
        storage = self.work / "storage"
        config = {
            "Name": "bench",
            "StorageDirectory": str(storage),
            "IndexDirectory": str(storage),
            "Plugins": [ORTHANC_DICOMWEB_PLUGIN] if Path(ORTHANC_DICOMWEB_PLUGIN).exists() else [],
            "SaveJobs": False,
            "HttpPort": self.http_port,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "OrthancExplorerEnabled": False,
            "WebDavEnabled": False,
            "TcpNoDelay": True,
            "DicomAet": self.ae_title,
            "DicomPort": self.port,
            "DicomCheckCalledAet": True,
            "DicomAlwaysAllowStore": False,
            "DicomCheckModalityHost": True,
            "DicomModalities": {"bench": {"AET": SENDER_AE, "Host": "127.0.0.1", "Port": free_port()}},
        }
        (self.work / "orthanc.json").write_text(json.dumps(config))
        with open(self.work / "orthanc.log", "wb") as log:
            self.process = subprocess.Popen(
                ["Orthanc", str(self.work / "orthanc.json")],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "TCP_NODELAY": "1"},
            )
        wait_for_port(self.port, self.process)

    def _http(self, method: str, path: str):
        request = urllib.request.Request(f"http://127.0.0.1:{self.http_port}{path}", method=method)
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read() or b"null")

    def reset(self) -> None:
        for study in self._http("GET", "/studies"):
            self._http("DELETE", f"/studies/{study}")

    def count(self) -> int:
        return self._http("GET", "/statistics")["CountInstances"]


class StoresNothing(Receiver):
    """pynetdicom with its defaults and a handler that returns success ("default"), or our SCP
    (dicomkit.store_scp with its transport settings) with a service that keeps nothing ("ours"):
    the transport alone."""

    def __init__(self, *args, flavour: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.flavour = flavour

    def start(self, associations: int) -> None:
        self.port = free_port()
        command = [
            PYTHON,
            __file__,
            "--stores-nothing",
            self.flavour,
            str(self.port),
            self.ae_title,
        ]
        self.process = subprocess.Popen(command)
        wait_for_port(self.port, self.process)


class DcmtkIgnores(Receiver):
    """dcmtk's storescp receiving and discarding (--ignore): what storescu and loopback cost alone,
    the floor under every receiver here."""

    def start(self, associations: int) -> None:
        self.port = free_port()
        command = ["storescp", "--ignore", "--aetitle", self.ae_title]
        if associations > 1:
            command.append("--fork")
        self.process = subprocess.Popen(
            [*command, str(self.port)],
            env={**os.environ, "TCP_NODELAY": "1"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, self.process)


class OurListener(Receiver):
    """`manage.py dicom_listener` with its own database and archive, configured as in production
    (DEBUG off: Django's debug cursor records every query)."""

    def __init__(self, *args, database_url: str = "", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        var = self.work / "var"
        self.database_url = database_url
        self.environment = {
            **os.environ,
            "DEBUG": "false",
            "VAR_DIR": str(var),
            "DATABASE_URL": database_url or f"sqlite:///{var / 'bench.sqlite3'}",
            "STORAGE_DIR": str(var / "archive"),
            "LOG_LEVEL": "WARNING",
        }

    def manage(self, *arguments: str) -> str:
        completed = subprocess.run(
            [PYTHON, "manage.py", *arguments],
            cwd=PROJECT,
            env=self.environment,
            capture_output=True,
            text=True,
        )
        if completed.returncode:
            raise RuntimeError(f"manage.py {arguments[0]} failed:\n{completed.stderr[-3000:]}")
        return completed.stdout

    def start(self, associations: int) -> None:
        if self.database_url:
            recreate_postgres_database(self.database_url)
        self.manage("migrate", "--verbosity", "0")
        create_site = "from accounts.models import Site; Site.objects.get_or_create(code=%r, name='Bench')"
        self.manage("shell", "-c", create_site % SITE_CODE)
        self.manage("add_remote_ae", SENDER_AE, SITE_CODE)
        self.port = free_port()
        command = [
            PYTHON,
            "manage.py",
            "dicom_listener",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
        ]
        command += ["--ae-title", self.ae_title, "--processes", str(associations)]
        with open(self.work / "listener.log", "wb") as log:
            self.process = subprocess.Popen(command, cwd=PROJECT, env=self.environment, stdout=log, stderr=log)
        wait_for_port(self.port, self.process)

    def reset(self) -> None:
        empty = (
            "from worklist.models import Instance, Series, Study, Patient\n"
            "for model in (Instance, Series, Study, Patient): model.objects.all().delete()"
        )
        self.manage("shell", "-c", empty)
        shutil.rmtree(self.environment["STORAGE_DIR"], ignore_errors=True)

    def count(self) -> int:
        rows = self.manage(
            "shell",
            "-c",
            "from worklist.models import Instance; print(Instance.objects.count())",
        )
        files = sum(1 for _ in Path(self.environment["STORAGE_DIR"]).glob("??/??/*.dcm"))
        row_count = int(rows.strip().splitlines()[-1])
        return row_count if row_count == files else -1

    def close(self) -> None:
        super().close()
        if self.database_url:
            drop_postgres_database(self.database_url)


def _postgres_admin(database_url: str):
    import psycopg

    parts = urlsplit(database_url)
    admin_url = urlunsplit((parts.scheme, parts.netloc, "/postgres", "", ""))
    return psycopg.connect(admin_url, autocommit=True), parts.path.lstrip("/")


def recreate_postgres_database(database_url: str) -> None:
    connection, name = _postgres_admin(database_url)
    with connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.execute(f'CREATE DATABASE "{name}"')


def drop_postgres_database(database_url: str) -> None:
    connection, name = _postgres_admin(database_url)
    with connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')


class KeepsNothing:
    """A StoreService of dicomkit.store_scp that accepts every sender and keeps nothing."""

    def allow(self, peer) -> bool:
        return True

    def store(self, peer, data: bytes) -> int:
        return 0x0000

    def association_refused(self, peer, reason: str) -> None:
        pass

    def association_ended(self, peer) -> None:
        pass


def serve_nothing(flavour: str, port: int, ae_title: str) -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    if flavour == "ours":
        from dicomkit.store_scp import StoreServer

        server = StoreServer(KeepsNothing(), ae_title=ae_title, port=port)
        server.start()
        signal.sigwait({signal.SIGTERM, signal.SIGINT})
        server.stop()
        return
    from pynetdicom import AE, AllStoragePresentationContexts, evt

    ae = AE(ae_title=ae_title)
    ae.supported_contexts = AllStoragePresentationContexts
    handlers = [(evt.EVT_C_STORE, lambda event: 0x0000)]
    server = ae.start_server(("127.0.0.1", port), block=False, evt_handlers=handlers)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    server.shutdown()


# --- measuring ----------------------------------------------------------------------------------
def send(receiver: Receiver, files: list[Path], associations: int) -> tuple[float, float]:
    """storescu of the files, split over `associations` senders at once; (seconds, server CPU)."""
    command = [
        "storescu",
        "-aet",
        SENDER_AE,
        "-aec",
        receiver.ae_title,
        "127.0.0.1",
        str(receiver.port),
    ]
    shares = [files[index::associations] for index in range(associations)]
    cpu_before = cpu_seconds(receiver.process.pid)
    started = time.perf_counter()
    senders = [
        subprocess.Popen(
            command + [str(path) for path in share],
            env={**os.environ, "TCP_NODELAY": "1"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for share in shares
    ]
    errors = [sender.communicate()[1] for sender in senders]
    elapsed = time.perf_counter() - started
    cpu_used = cpu_once_idle(receiver.process.pid) - cpu_before
    for sender, error in zip(senders, errors):
        if sender.returncode or "Store Failed" in error:
            raise RuntimeError(f"storescu into {receiver.name} failed:\n{error[-2000:]}")
    return elapsed, cpu_used


def run_rounds(receivers: list[Receiver], files: list[Path], rounds: int, scenarios: list[int]) -> None:
    for round_number in range(1, rounds + 1):
        # Rotate the order so that no receiver always runs first (caches, noisy neighbours).
        shift = round_number % len(receivers)
        for associations in scenarios:
            for receiver in receivers[shift:] + receivers[:shift]:
                receiver.reset()
                elapsed, cpu = send(receiver, files, associations)
                held = receiver.count()
                if held is not None and held != len(files):
                    raise RuntimeError(f"{receiver.name} holds {held} instances, not {len(files)}")
                rate, cpu_ms = len(files) / elapsed, cpu / len(files) * 1000
                receiver.rates.setdefault(associations, []).append(rate)
                receiver.cpu_ms.setdefault(associations, []).append(cpu_ms)
                print(
                    f"round {round_number}  {associations} assoc.  {receiver.name:<20} {rate:7.1f} inst/s"
                    f"  {elapsed:5.2f} s  server CPU {cpu_ms:5.2f} ms/inst",
                    flush=True,
                )


def report(receivers: list[Receiver], count: int, scenarios: list[int]) -> None:
    for associations in scenarios:
        print(f"\nC-STORE of {count} instances, {associations} association(s) at once, median of rounds")
        print("| receiver | inst/s | rounds | server CPU ms/inst |\n|---|---|---|---|")
        medians = {}
        for receiver in receivers:
            rates = receiver.rates[associations]
            medians[receiver.name] = statistics.median(rates)
            cpu = statistics.median(receiver.cpu_ms[associations])
            listed = ", ".join(f"{rate:.0f}" for rate in rates)
            print(f"| {receiver.name} | {medians[receiver.name]:.1f} | {listed} | {cpu:.2f} |")
        for name, rate in medians.items():
            if name in REFERENCES:
                continue
            ratios = [f"{rate / medians[other]:.2f} x {other}" for other in REFERENCES if other in medians]
            print(f"{name}: " + ", ".join(ratios))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--associations", default="1,2", help="comma list of concurrent associations")
    parser.add_argument("--slices", type=int, default=300)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument(
        "--database-url",
        default="",
        help="also measure ours on this PostgreSQL database",
    )
    parser.add_argument("--without-orthanc", action="store_true")
    parser.add_argument(
        "--stores-nothing",
        nargs=3,
        metavar=("FLAVOUR", "PORT", "AE"),
        help=argparse.SUPPRESS,
    )
    arguments = parser.parse_args()
    if arguments.stores_nothing:
        flavour, port, ae_title = arguments.stores_nothing
        serve_nothing(flavour, int(port), ae_title)
        return
    for tool in ("storescu", *(() if arguments.without_orthanc else ("Orthanc",))):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is missing: apt-get install -y dcmtk orthanc orthanc-dicomweb")
    scenarios = [int(value) for value in arguments.associations.split(",")]

    with tempfile.TemporaryDirectory(prefix="cstore-bench-") as temporary:
        work = Path(temporary)
        started = time.perf_counter()
        files = write_series(work / "series", arguments.slices, arguments.size)
        megabytes = sum(path.stat().st_size for path in files) / 1e6
        print(f"series: {len(files)} files, {megabytes:.1f} MB, made in {time.perf_counter() - started:.1f} s")
        print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start")

        receivers: list[Receiver] = []
        if not arguments.without_orthanc:
            receivers.append(Orthanc("Orthanc", "ORTHANC", work / "orthanc"))
        receivers.append(DcmtkIgnores("dcmtk storescp --ignore", "IGNORE", work / "dcmtk"))
        receivers.append(StoresNothing("bare pynetdicom", "BARE", work / "bare", flavour="default"))
        receivers.append(StoresNothing("our SCP, no storage", "NOSTORE", work / "nostore", flavour="ours"))
        receivers.append(OurListener("ours (SQLite)", "READINGWS", work / "ours-sqlite"))
        if arguments.database_url:
            postgres = OurListener(
                "ours (PostgreSQL)",
                "READINGWS",
                work / "ours-pg",
                database_url=arguments.database_url,
            )
            receivers.append(postgres)
        try:
            for receiver in receivers:
                receiver.work.mkdir(parents=True)
                receiver.start(max(scenarios))
            run_rounds(receivers, files, arguments.rounds, scenarios)
        finally:
            for receiver in receivers:
                receiver.close()
        print(f"load average {os.getloadavg()[0]:.2f} at the end")
        report(receivers, len(files), scenarios)


if __name__ == "__main__":
    main()
