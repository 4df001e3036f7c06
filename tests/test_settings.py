"""Production settings refuse to start when insecure; bad environment values stop start-up."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from config.env import ConfigurationError, database_from_url, env_bool, env_int

PROJECT = Path(__file__).resolve().parents[1]
GOOD_SECRET = "production-secret-" + "0123456789abcdefghijklmnopqrstuvwxyz"


def import_settings(**environment: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL", "DEBUG")}
    env.update(environment)
    return subprocess.run(
        [sys.executable, "-c", "import config.settings"], cwd=PROJECT, env=env, capture_output=True, text=True
    )


@pytest.mark.parametrize(
    ("environment", "problem"),
    [
        ({"DEBUG": "true", "SECRET_KEY": GOOD_SECRET, "ALLOWED_HOSTS": "ws.example"}, "DEBUG is on"),
        ({"ALLOWED_HOSTS": "ws.example"}, "SECRET_KEY is the default"),
        ({"SECRET_KEY": GOOD_SECRET}, "ALLOWED_HOSTS is empty"),
    ],
)
def test_production_refuses_insecure_settings(environment, problem):
    result = import_settings(READINGWS_ENV="production", **environment)
    assert result.returncode != 0
    assert "refusing to start in production" in result.stderr
    assert problem in result.stderr


def test_production_starts_with_secure_settings():
    result = import_settings(READINGWS_ENV="production", SECRET_KEY=GOOD_SECRET, ALLOWED_HOSTS="ws.example")
    assert result.returncode == 0, result.stderr


def test_deployment_checks_pass_on_production_settings():
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL", "DEBUG")}
    env.update(READINGWS_ENV="production", SECRET_KEY=GOOD_SECRET, ALLOWED_HOSTS="ws.example")
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_a_misspelt_boolean_stops_start_up(monkeypatch):
    monkeypatch.setenv("DEBUG", "ture")
    with pytest.raises(ConfigurationError, match="DEBUG must be true or false"):
        env_bool("DEBUG", False)


def test_a_port_out_of_range_stops_start_up(monkeypatch):
    monkeypatch.setenv("DICOM_PORT", "70000")
    with pytest.raises(ConfigurationError, match="between 0 and 65535"):
        env_int("DICOM_PORT", 11112, minimum=0, maximum=65535)


def test_database_urls_map_to_django_settings(tmp_path):
    postgres = database_from_url("postgres://reader:s%40cret@db.internal:5433/pacs", base_dir=tmp_path)
    assert postgres["ENGINE"] == "django.db.backends.postgresql"
    assert (postgres["USER"], postgres["PASSWORD"], postgres["PORT"], postgres["NAME"]) == (
        "reader",
        "s@cret",
        "5433",
        "pacs",
    )
    sqlite = database_from_url("sqlite:///var/x.sqlite3", base_dir=tmp_path)
    assert sqlite["NAME"] == str(tmp_path / "var/x.sqlite3")
    with pytest.raises(ConfigurationError):
        database_from_url("mysql://x/y", base_dir=tmp_path)


def test_every_setting_read_from_the_environment_is_listed_in_env_example():
    import re

    listed = set(re.findall(r"^#?\s*([A-Z_]+)=", (PROJECT / ".env.example").read_text(), re.MULTILINE))
    read = set()
    for source in (PROJECT / "config").glob("*.py"):
        read |= set(re.findall(r'env_\w+\(\s*"([A-Z_]+)"', source.read_text()))
    read |= {"DATABASE_URL"}
    assert read - listed == set()
