"""Real DICOM peers for the integration tests, installed by ./test from Debian's packages."""

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")


@dataclass(frozen=True)
class OrthancPeer:
    base: str  # REST root, e.g. http://127.0.0.1:8042
    dicomweb: str  # DICOMweb root, as PACS_DICOMWEB_URL
    dicom_port: int
    aet: str
    log: Path

    def upload(self, data: bytes) -> dict:
        """Store one file through Orthanc's REST API (POST /instances); returns its answer."""
        request = urllib.request.Request(
            self.base + "/instances",
            data=data,
            headers={"Content-Type": "application/dicom"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def delete_everything(self) -> None:
        for patient in self.get("/patients"):
            request = urllib.request.Request(f"{self.base}/patients/{patient}", method="DELETE")
            urllib.request.urlopen(request, timeout=10).close()

    def get(self, path: str):
        with urllib.request.urlopen(self.base + path, timeout=10) as response:
            return json.loads(response.read())


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory):
    """Debian's Orthanc with the DICOMweb plugin on free loopback ports (TOOLCHAIN.md section 9)."""
    from tests.conftest import free_port, require_tool

    executable = require_tool("Orthanc")
    if not DICOMWEB_PLUGIN.exists():
        pytest.skip(f"the Orthanc DICOMweb plugin is not installed ({DICOMWEB_PLUGIN})")
    work = tmp_path_factory.mktemp("orthanc")
    http_port, dicom_port = free_port(), free_port()
    config = {
        "Name": "tests",
        "StorageDirectory": str(work / "db"),
        "IndexDirectory": str(work / "db"),
        "Plugins": [str(DICOMWEB_PLUGIN)],
        "SaveJobs": False,
        "HttpPort": http_port,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "OrthancExplorerEnabled": False,
        "WebDavEnabled": False,
        "TcpNoDelay": True,
        "DicomAet": "ORTHANC",
        "DicomPort": dicom_port,
        "DicomCheckCalledAet": True,
        "DicomAlwaysAllowEcho": False,
        "DicomAlwaysAllowStore": False,
        "DicomCheckModalityHost": True,
        "DicomModalities": {},
        "DicomWeb": {
            "Enable": True,
            "Root": "/dicom-web/",
            "Host": f"127.0.0.1:{http_port}",
            "Ssl": False,
        },
    }
    (work / "orthanc.json").write_text(json.dumps(config))
    log = work / "orthanc.log"
    with open(log, "wb") as log_file:
        process = subprocess.Popen(
            [executable, str(work / "orthanc.json")],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env={**os.environ, "TCP_NODELAY": "1"},
        )
    base = f"http://127.0.0.1:{http_port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(base + "/system", timeout=1).close()
            break
        except (OSError, urllib.error.URLError):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                process.wait()
                pytest.fail("Orthanc did not start:\n" + log.read_text(errors="replace")[-2000:])
            time.sleep(0.1)
    try:
        yield OrthancPeer(
            base=base,
            dicomweb=base + "/dicom-web",
            dicom_port=dicom_port,
            aet="ORTHANC",
            log=log,
        )
    finally:
        process.terminate()  # SIGTERM to our own PID only
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
