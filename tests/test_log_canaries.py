"""No password, token or patient data in any log line: a representative run of requests with every
logger at DEBUG, and canary values that must not appear in anything logged."""

import io
import logging
import secrets

import pytest
from django.test import Client
from pydicom import dcmread
from pydicom.data import get_testdata_file

from accounts.models import ApiToken
from ai_overlays.models import AIEngine
from tests.conftest import make_user
from worklist.ingest import ingest
from worklist.models import Study

pytestmark = pytest.mark.django_db

CANARY_PASSWORD = "Canary-Passw0rd-" + secrets.token_hex(6)
CANARY_WRONG_PASSWORD = "Canary-Wr0ng-" + secrets.token_hex(6)
CANARY_PATIENT_NAME = "CANARYNAME^" + secrets.token_hex(4).upper()
CANARY_PATIENT_ID = "CANARYID" + secrets.token_hex(4).upper()


class Collect(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record):
        self.lines.append(self.format(record))  # the formatted line, with any traceback


@pytest.fixture
def every_log_line():
    """Every logger at DEBUG, python warnings logged too; loggers that do not propagate get the
    collector themselves."""
    collector = Collect()
    loggers = [logging.getLogger()] + [
        logging.getLogger(name)
        for name in list(logging.root.manager.loggerDict)
        if isinstance(logging.root.manager.loggerDict[name], logging.Logger)
    ]
    saved = [(logger, logger.level, logger.disabled) for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
        logger.disabled = False
        if logger is logging.getLogger() or not logger.propagate:
            logger.addHandler(collector)
    logging.captureWarnings(True)
    yield collector.lines
    logging.captureWarnings(False)
    for logger, level, disabled in saved:
        logger.setLevel(level)
        logger.disabled = disabled
        logger.removeHandler(collector)


def canary_study_bytes() -> bytes:
    dataset = dcmread(get_testdata_file("CT_small.dcm"))
    dataset.PatientName = CANARY_PATIENT_NAME
    dataset.PatientID = CANARY_PATIENT_ID
    buffer = io.BytesIO()
    dataset.save_as(buffer)
    return buffer.getvalue()


def test_no_canary_value_appears_in_any_log_line(every_log_line, sites, settings):
    settings.AXES_FAILURE_LIMIT = 3
    make_user("canary.reader", sites=[sites["SUWON"]], password=CANARY_PASSWORD)
    engine = make_user("canary.engine", role="ai_engine")
    AIEngine.objects.create(name="Canary engine", user=engine).sites.set([sites["SUWON"]])
    _, token_key = ApiToken.issue(user=engine, name="canary engine")
    browser = Client(raise_request_exception=False)

    # A failed login, a mistyped login name that is really a patient ID, a lockout, then a login.
    browser.post("/accounts/login/", {"username": "canary.reader", "password": CANARY_WRONG_PASSWORD})
    for _ in range(3):
        browser.post("/accounts/login/", {"username": CANARY_PATIENT_ID, "password": CANARY_WRONG_PASSWORD})
    assert (
        browser.post("/accounts/login/", {"username": "canary.reader", "password": CANARY_PASSWORD}).status_code == 302
    )

    # A patient arrives and is searched for, listed, opened, viewed; a refused page and a 404.
    assert ingest(canary_study_bytes(), site=sites["SUWON"], source="test").ok
    study_uid = Study.objects.get().study_instance_uid
    assert browser.get("/", {"q": CANARY_PATIENT_NAME.split("^")[0]}).status_code == 200
    assert CANARY_PATIENT_ID in browser.get(f"/studies/{study_uid}/").text
    browser.get(f"/reading/studies/{study_uid}/")
    browser.get(f"/reading/api/studies/{study_uid}/manifest")
    browser.get("/no-such-page/")

    # An AI engine uses its token; someone tries a wrong one.
    engine_client = Client(raise_request_exception=False)
    assert engine_client.get("/ai/api/v1/models/", HTTP_AUTHORIZATION=f"Bearer {token_key}").status_code == 200
    engine_client.get(f"/dicomweb/studies/{study_uid}/metadata", HTTP_AUTHORIZATION=f"Bearer {token_key}")
    engine_client.get("/ai/api/v1/models/", HTTP_AUTHORIZATION=f"Bearer {token_key[:-4]}abcd")
    browser.post("/accounts/logout/")

    assert any("AXES" in line for line in every_log_line), "the run should have logged something to check"
    assert any("Not Found" in line for line in every_log_line)
    canaries = {
        "password": CANARY_PASSWORD,
        "wrong password": CANARY_WRONG_PASSWORD,
        "patient name": CANARY_PATIENT_NAME,
        "patient name (family part)": CANARY_PATIENT_NAME.split("^")[0],
        "patient ID": CANARY_PATIENT_ID,
        "API token": token_key,
    }
    leaks = [(what, line) for line in every_log_line for what, value in canaries.items() if value in line]
    assert leaks == []
