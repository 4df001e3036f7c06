"""Dispatch: which engines a study goes to, the stable-study sweep (once per study, even with two
dispatchers at once), vendor engines told over real HTTP, retries with growing waits, the
built-in reference engine's results stored, and the ai_dispatcher command."""

import json
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from ai_overlays import dispatch, engine_client, tasks
from ai_overlays.models import AIJob, AIResult, EngineKind, JobStatus
from tests.ai_overlays.factories import ingest_ct, make_engine, make_model, result_payload
from tests.conftest import free_port
from tests.worklist.studies import make_study
from worklist.models import AiStatus, Study, StudyStatus

DUMMY_TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}


def arrived_study(site, *, seconds_ago: float = 120, clinical_area: str = "lung", modalities: str = "CT") -> Study:
    """A study whose last instance arrived `seconds_ago`."""
    study = make_study(site, clinical_area=clinical_area, modalities=modalities, modality=modalities.split(",")[0])
    Study.objects.filter(pk=study.pk).update(last_received_at=timezone.now() - timedelta(seconds=seconds_ago))
    study.refresh_from_db()
    return study


class EngineServer:
    """A vendor engine on loopback that records each notice and answers `status` after `delay` s."""

    def __init__(self, *, status: int = 202, delay: float = 0.0):
        self.status, self.delay = status, delay
        self.notices: list[dict] = []
        self.content_types: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                server.notices.append(json.loads(body))
                server.content_types.append(self.headers["Content-Type"])
                time.sleep(server.delay)
                self.send_response(server.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/analyse"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def engine_server():
    servers = []

    def start(**options) -> EngineServer:
        servers.append(EngineServer(**options))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def dummy_tasks(settings):
    """Tasks are recorded, not run, so a test sees what was enqueued."""
    settings.TASKS = DUMMY_TASKS
    backend = tasks.run_ai_job.get_backend()
    backend.clear()
    return backend


@pytest.fixture
def committing(django_capture_on_commit_callbacks):
    """Call a function as if its transactions committed (the test's own transaction never does),
    so what it enqueues after the commit runs."""

    def call(function, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return function(*args, **kwargs)

    return call


@pytest.fixture
def lung_ct(sites):
    return make_model("Acme", "LungNet", "2.1", clinical_area="lung", modalities="CT")


@pytest.mark.django_db
def test_engines_for_a_study_serve_its_site_and_run_an_active_model_of_its_area_and_modality(sites, lung_ct):
    suwon, icheon = sites["SUWON"], sites["ICHEON"]
    stroke_ct = make_model("Acme", "StrokeNet", "1.0", clinical_area="stroke", modalities="CT")
    lung_xray = make_model("Acme", "ChestX", "3.0", clinical_area="lung", modalities="CR DX")
    retired = make_model("Acme", "LungNet", "1.0", clinical_area="lung", modalities="CT", is_active=False)
    matching, _ = make_engine("matching", models=[stroke_ct, lung_ct], sites=[suwon, icheon])
    make_engine("other-site", models=[lung_ct], sites=[icheon])
    make_engine("other-area", models=[stroke_ct], sites=[suwon])
    make_engine("other-modality", models=[lung_xray], sites=[suwon])
    make_engine("retired-model", models=[retired], sites=[suwon])
    make_engine("switched-off", models=[lung_ct], sites=[suwon], is_active=False)

    assert dispatch.engines_for(arrived_study(suwon)) == [matching]
    # A study with a second modality (a dose report) still matches; so does PACS's backslash form.
    assert dispatch.engines_for(arrived_study(suwon, modalities="CT,SR")) == [matching]
    assert dispatch.engines_for(arrived_study(suwon, modalities="SR\\CT")) == [matching]
    assert dispatch.engines_for(arrived_study(suwon, modalities="MR")) == []
    assert dispatch.engines_for(arrived_study(suwon, clinical_area="dementia")) == []


@pytest.mark.django_db
def test_a_study_still_receiving_images_waits_and_a_stable_one_is_sent_once(
    sites, lung_ct, dummy_tasks, settings, committing
):
    settings.AI_STABLE_SECONDS = 60
    engine, _ = make_engine(models=[lung_ct], sites=[sites["SUWON"]], endpoint_url="http://engine.invalid/")
    study = arrived_study(sites["SUWON"], seconds_ago=10)

    assert committing(dispatch.dispatch_stable_studies) == 0
    assert not AIJob.objects.exists()
    study.refresh_from_db()
    assert study.ai_status == AiStatus.NONE

    later = timezone.now() + timedelta(seconds=60)
    assert committing(dispatch.dispatch_stable_studies, later) == 1
    assert committing(dispatch.dispatch_stable_studies, later) == 0

    job = AIJob.objects.get()
    assert (job.study, job.engine, job.status, job.attempts) == (study, engine, JobStatus.PENDING, 0)
    assert [result.args for result in dummy_tasks.results] == [[job.pk]]
    study.refresh_from_db()
    assert (study.ai_status, study.status) == (AiStatus.PENDING, StudyStatus.AI_PENDING)
    assert [(entry["model"], entry["state"]) for entry in study.ai_summary] == [("LungNet", "pending")]


@pytest.mark.django_db
def test_a_study_no_engine_applies_to_becomes_no_ai(sites, lung_ct, dummy_tasks, committing):
    make_engine(models=[lung_ct], sites=[sites["ICHEON"]])
    study = arrived_study(sites["SUWON"])

    assert committing(dispatch.dispatch_stable_studies) == 1

    study.refresh_from_db()
    assert (study.ai_status, study.status, study.ai_summary) == (AiStatus.NO_AI, StudyStatus.NO_AI, [])
    assert not AIJob.objects.exists()
    assert dummy_tasks.results == []


@pytest.mark.django_db(transaction=True)
def test_dispatchers_sweeping_at_once_make_one_job_per_engine_and_tell_each_engine_once(sites, lung_ct, engine_server):
    first, second = engine_server(), engine_server()
    make_engine("first", models=[lung_ct], sites=[sites["SUWON"]], endpoint_url=first.url)
    make_engine("second", models=[lung_ct], sites=[sites["SUWON"]], endpoint_url=second.url)
    studies = [arrived_study(sites["SUWON"]) for _ in range(6)]
    workers = 4
    start = threading.Barrier(workers)

    def sweep(_):
        try:
            start.wait(timeout=30)
            return dispatch.dispatch_stable_studies()
        finally:
            connection.close()

    with ThreadPoolExecutor(workers) as pool:
        handled = sum(pool.map(sweep, range(workers)))

    assert handled == len(studies)
    assert AIJob.objects.count() == 2 * len(studies)
    assert set(AIJob.objects.values_list("status", flat=True)) == {JobStatus.SENT}
    for server in (first, second):
        told = sorted(notice["study_instance_uid"] for notice in server.notices)
        assert told == sorted(study.study_instance_uid for study in studies)


@pytest.mark.django_db
def test_an_http_engine_receives_the_notice_as_json_and_its_job_becomes_sent(
    sites, lung_ct, engine_server, settings, committing
):
    settings.PUBLIC_BASE_URL = "https://rws.example.org/"
    server = engine_server(status=202)
    engine, _ = make_engine(models=[lung_ct], sites=[sites["SUWON"]], endpoint_url=server.url)
    study = arrived_study(sites["SUWON"], modalities="CT,SR")

    committing(dispatch.dispatch_stable_studies)

    job = AIJob.objects.get()
    assert server.notices == [
        {
            "job_id": job.pk,
            "study_instance_uid": study.study_instance_uid,
            "site": "SUWON",
            "modalities": ["CT", "SR"],
            "clinical_area": "lung",
            "wado_rs_root": "https://rws.example.org/dicomweb/",
            "results_url": "https://rws.example.org/ai/api/v1/results/",
        }
    ]
    assert server.content_types == ["application/json"]
    assert (job.status, job.attempts, job.reason, job.next_attempt_at) == (JobStatus.SENT, 0, "", None)
    study.refresh_from_db()
    # Sent is still waiting: the result comes later through the intake API.
    assert study.ai_status == AiStatus.PENDING


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        ("http_500", "engine answered HTTP 500"),
        ("refused", "connection refused"),
        ("slow", "no answer within 0.3 s"),
    ],
)
@pytest.mark.django_db
def test_an_unreachable_engine_is_retried_with_growing_waits_then_failed_with_its_reason(
    sites, lung_ct, engine_server, settings, monkeypatch, failure, reason, committing
):
    settings.AI_RETRY_SECONDS, settings.AI_MAX_ATTEMPTS = 30, 3
    monkeypatch.setattr(engine_client, "NOTICE_TIMEOUT_SECONDS", 0.3)
    if failure == "refused":
        url, server = f"http://127.0.0.1:{free_port()}/analyse", None
    else:
        server = engine_server(status=500) if failure == "http_500" else engine_server(delay=1.0)
        url = server.url
    make_engine(models=[lung_ct], sites=[sites["SUWON"]], endpoint_url=url)
    study = arrived_study(sites["SUWON"])

    committing(dispatch.dispatch_stable_studies)
    job = AIJob.objects.get()
    waits = []
    while job.status == JobStatus.PENDING:
        waits.append(round((job.next_attempt_at - job.updated_at).total_seconds()))
        assert job.reason == reason
        # Not due yet: nothing is sent before the wait is over.
        assert committing(dispatch.retry_due_jobs, job.next_attempt_at - timedelta(seconds=1)) == 0
        assert committing(dispatch.retry_due_jobs, job.next_attempt_at) == 1
        job.refresh_from_db()

    assert waits == [30, 60]
    assert (job.status, job.attempts, job.reason, job.next_attempt_at) == (JobStatus.FAILED, 3, reason, None)
    if server is not None:
        assert len(server.notices) == 3
    assert committing(dispatch.retry_due_jobs, timezone.now() + timedelta(days=1)) == 0
    study.refresh_from_db()
    assert (study.ai_status, study.status) == (AiStatus.FAILED, StudyStatus.AI_FAILED)
    assert [(entry["model"], entry["state"]) for entry in study.ai_summary] == [("LungNet", "failed")]


@pytest.mark.django_db
def test_the_reference_engine_runs_here_and_its_results_are_stored_and_the_job_done(
    sites, monkeypatch, settings, committing
):
    settings.AI_STABLE_SECONDS = 0
    model = make_model("Reading workstation", "Reference lung nodule CT", "1.0", is_reference=True)
    engine, _ = make_engine("reference", models=[model], sites=list(sites.values()), kind=EngineKind.REFERENCE)
    ct = ingest_ct(sites["SUWON"])
    Study.objects.filter(pk=ct.study.pk).update(clinical_area="lung")
    analysed = []

    def fake_analyse_study(study):
        analysed.append(study.study_instance_uid)
        return [result_payload(model, ct, result_id="reference-1")]

    monkeypatch.setattr(tasks, "run_reference_engine", fake_analyse_study)

    committing(dispatch.dispatch_stable_studies)

    assert analysed == [ct.study.study_instance_uid]
    result = AIResult.objects.get()
    assert (result.engine, result.result_id, result.findings.count(), result.heatmaps.count()) == (
        engine,
        "reference-1",
        5,
        1,
    )
    assert AIJob.objects.get().status == JobStatus.DONE
    study = Study.objects.get(pk=ct.study.pk)
    assert (study.ai_status, study.ai_score) == (AiStatus.READY, 88)

    # Sent again by an admin: the same results, stored once, and the job done again.
    assert committing(dispatch.resend, study) == 1
    assert AIResult.objects.count() == 1
    assert AIJob.objects.get().status == JobStatus.DONE


@pytest.mark.django_db
def test_a_reference_engine_error_is_retried_and_logs_no_patient_data(sites, monkeypatch, caplog, committing):
    model = make_model("Reading workstation", "Reference lung nodule CT", "1.0", is_reference=True)
    make_engine("reference", models=[model], sites=[sites["SUWON"]], kind=EngineKind.REFERENCE)
    study = arrived_study(sites["SUWON"])

    def broken_engine(study):
        raise ValueError("cannot read HONG^GILDONG")

    monkeypatch.setattr(tasks, "run_reference_engine", broken_engine)

    committing(dispatch.dispatch_stable_studies)

    job = AIJob.objects.get()
    assert (job.status, job.attempts, job.reason) == (JobStatus.PENDING, 1, "reference engine error (ValueError)")
    assert "ValueError" in caplog.text
    assert "HONG" not in caplog.text
    study.refresh_from_db()
    assert study.ai_status == AiStatus.PENDING


@pytest.mark.django_db
def test_a_job_whose_task_was_lost_is_sent_again_once_its_lease_is_over(sites, lung_ct, dummy_tasks, committing):
    make_engine(models=[lung_ct], sites=[sites["SUWON"]], endpoint_url="http://engine.invalid/")
    arrived_study(sites["SUWON"])
    now = timezone.now()
    committing(dispatch.dispatch_stable_studies, now)
    job = AIJob.objects.get()

    assert committing(dispatch.retry_due_jobs, now + dispatch.QUEUED_LEASE - timedelta(seconds=1)) == 0
    assert committing(dispatch.retry_due_jobs, now + dispatch.QUEUED_LEASE) == 1
    # Taken with a new lease: a second dispatcher a moment later leaves it alone.
    assert committing(dispatch.retry_due_jobs, now + dispatch.QUEUED_LEASE) == 0
    assert [result.args for result in dummy_tasks.results] == [[job.pk], [job.pk]]


@pytest.mark.django_db
def test_resend_starts_a_failed_job_over(sites, lung_ct, engine_server, settings, committing):
    settings.AI_MAX_ATTEMPTS = 1
    server = engine_server(status=503)
    engine, _ = make_engine(models=[lung_ct], sites=[sites["SUWON"]], endpoint_url=server.url)
    study = arrived_study(sites["SUWON"])
    committing(dispatch.dispatch_stable_studies)
    assert AIJob.objects.get().status == JobStatus.FAILED

    server.status = 202
    assert committing(dispatch.resend, study) == 1

    job = AIJob.objects.get()
    assert (job.status, job.attempts, job.reason) == (JobStatus.SENT, 0, "")
    assert len(server.notices) == 2
    study.refresh_from_db()
    assert study.ai_status == AiStatus.PENDING


@pytest.mark.django_db
def test_the_dispatcher_command_once_sends_the_stable_studies_and_reports(sites, lung_ct, dummy_tasks, committing):
    make_engine(models=[lung_ct], sites=[sites["SUWON"]], endpoint_url="http://engine.invalid/")
    arrived_study(sites["SUWON"])
    arrived_study(sites["SUWON"], seconds_ago=1)
    out = StringIO()

    committing(call_command, "ai_dispatcher", "--once", stdout=out)

    assert out.getvalue().strip() == "1 study(ies) sent, 0 job(s) retried"
    assert AIJob.objects.count() == 1


@pytest.mark.django_db(transaction=True)  # the loop closes obsolete connections, as a test's transaction looks
def test_the_dispatcher_loop_sweeps_until_sigterm_and_stops_cleanly(sites, lung_ct, dummy_tasks):
    make_engine(models=[lung_ct], sites=[sites["SUWON"]], endpoint_url="http://engine.invalid/")
    arrived_study(sites["SUWON"])
    out = StringIO()
    own_handler = signal.getsignal(signal.SIGTERM)

    def terminate_after_the_first_sweep():
        deadline = time.monotonic() + 30
        while "sent" not in out.getvalue() and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGTERM)

    killer = threading.Thread(target=terminate_after_the_first_sweep)
    killer.start()
    call_command("ai_dispatcher", "--interval", "0.05", stdout=out)
    killer.join()

    assert out.getvalue().splitlines() == [
        "AI dispatcher sweeping every 0.05 s",
        "1 study(ies) sent, 0 job(s) retried",
        "stopped",
    ]
    assert AIJob.objects.count() == 1
    assert signal.getsignal(signal.SIGTERM) == own_handler
