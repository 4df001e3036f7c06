"""Run manage.py in a child process against the test database and the test's archive folder, the
way an operator (or a crash) would: the child gets its own connections and can die mid-ingest."""

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection

MANAGE = Path(__file__).resolve().parents[2] / "manage.py"


def child_database_url() -> str:
    database = connection.settings_dict
    if database["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{Path(database['NAME']).resolve()}"
    credentials = quote(database["USER"] or "", safe="")
    if database["PASSWORD"]:
        credentials += ":" + quote(database["PASSWORD"], safe="")
    host = database["HOST"] or "127.0.0.1"
    port = f":{database['PORT']}" if database["PORT"] else ""
    return f"postgres://{credentials}@{host}{port}/{quote(database['NAME'], safe='')}"


def run_manage(*arguments: str, var_dir: Path, fault_at: str = "", timeout: float = 120) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if key not in ("INGEST_FAULT_AT", "TASKS_BACKEND")}
    environment.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=child_database_url(),
        VAR_DIR=str(var_dir),
        STORAGE_DIR=str(settings.STORAGE_DIR),
        PYTHONWARNINGS="ignore",
    )
    if fault_at:
        environment["INGEST_FAULT_AT"] = fault_at
    return subprocess.run(
        [sys.executable, str(MANAGE), *arguments],
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
