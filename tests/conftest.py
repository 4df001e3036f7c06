"""Personas and shared fixtures. Real services: PostgreSQL and Redis when DATABASE_URL and
REDIS_URL are set (CI), the embedded default otherwise."""

import os
import shutil
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from asgiref.sync import SyncToAsync

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "dicom-samples"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost",
]


def samples_dir() -> Path:
    """The shared real-world samples, or a skip saying why (they live beside the checkout)."""
    if not SAMPLES.is_dir():
        pytest.skip(f"real DICOM samples not present at {SAMPLES}")
    return SAMPLES


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (./test installs it)")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(autouse=True)
def _archive_in_tmp(settings, tmp_path):
    settings.STORAGE_DIR = tmp_path / "archive"
    settings.DATA_EXPORT_DIR = tmp_path / "exports"
    # The product defaults to Korean; tests read English unless they ask for Korean themselves.
    settings.LANGUAGE_CODE = "en"


@pytest.fixture
def sites(db):
    from accounts.models import Site

    return {
        "SUWON": Site.objects.create(code="SUWON", name="Suwon"),
        "ICHEON": Site.objects.create(code="ICHEON", name="Icheon"),
        "ANSEONG": Site.objects.create(code="ANSEONG", name="Anseong", is_hub=True),
    }


def make_user(username, *, role="radiologist", sites=(), all_sites=False, password="pw-for-tests-1"):  # noqa: S107
    from accounts.models import User

    user = User.objects.create_user(username, password=password, role=role, all_sites=all_sites)
    user.sites.set(sites)
    return user


@pytest.fixture
def suwon_radiologist(sites):
    return make_user("kim.suwon", sites=[sites["SUWON"]])


@pytest.fixture
def icheon_radiologist(sites):
    return make_user("lee.icheon", sites=[sites["ICHEON"]])


@pytest.fixture
def hub_radiologist(sites):
    return make_user("park.anseong", sites=[sites["ANSEONG"]], all_sites=True)


@pytest.fixture
def admin_user(sites):
    return make_user("admin", role="admin", all_sites=True)


@pytest.fixture
def data_steward(sites):
    return make_user("steward", role="data_steward", sites=list(sites.values()))


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (./test installs it)")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def playwright(playwright):
    # Playwright's sync API leaves an asyncio loop marked running on the main thread, so Django's
    # async-safety guard would refuse the test database setup and TransactionTestCase's flush.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield playwright


def pytest_collection_modifyitems(config, items):
    # Browser tests last: pytest-asyncio tests after Playwright fail with
    # "Cannot run the event loop while another loop is running".
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


def _fresh_asgiref_executor_in_child():
    # A forked daphne child inherits asgiref's thread-sensitive executor without its thread.
    SyncToAsync.single_thread_executor = ThreadPoolExecutor(max_workers=1)


os.register_at_fork(after_in_child=_fresh_asgiref_executor_in_child)
from tests.peers import orthanc  # noqa: E402,F401  (session fixture: a real Orthanc)


def pytest_configure(config):
    # Hashing every test user's password with the production PBKDF2 costs about a second each on
    # these machines; the forked live servers inherit this list too.
    from django.conf import settings

    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        *settings.PASSWORD_HASHERS,
    ]
