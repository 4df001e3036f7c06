"""scripts/system-packages without root and with packages missing: a developer's run goes on (the
peer and browser tests skip), CI stops, since skipped tests would let it pass."""

import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "system-packages"


def run_unprivileged_without_packages(tmp_path: Path, **environment: str) -> subprocess.CompletedProcess:
    # PATH holds only an `id` that answers a non-root uid, so every command the script looks for is missing.
    stubs = tmp_path / "bin"
    stubs.mkdir()
    (stubs / "id").write_text("#!/bin/sh\necho 1000\n")
    (stubs / "id").chmod(0o755)
    return subprocess.run(
        ["/bin/bash", str(SCRIPT)], env={"PATH": str(stubs), **environment}, capture_output=True, text=True
    )


def test_ci_fails_when_packages_are_missing(tmp_path):
    result = run_unprivileged_without_packages(tmp_path, CI="true")
    assert result.returncode == 1
    assert "missing Debian packages: chromium orthanc" in result.stderr and "dcmtk" in result.stderr


@pytest.mark.parametrize("ci", ["", "false"])
def test_a_developer_run_goes_on_without_them(tmp_path, ci):
    result = run_unprivileged_without_packages(tmp_path, CI=ci)
    assert result.returncode == 0
    assert "their tests skip meanwhile" in result.stderr
