"""Each AI model's state in its worklist row, as ai_overlays records it: a result shows its urgent
flag and score, a job still out says pending, a job given up on says failed with its reason in the
tooltip; a study no model applies to says so."""

import re

import pytest
from django.utils import translation

from ai_overlays.models import AIJob, JobStatus
from ai_overlays.study_summary import refresh_study_ai
from tests.ai_overlays.factories import ingest_ct, make_engine, make_model
from tests.ai_overlays.viewer_data import store
from worklist import workflow
from worklist.models import AiStatus, Study

HOME = "/"
FAILURE_REASON = 'engine answered HTTP 503 "busy"'


@pytest.fixture
def study_with_three_models(sites):
    """One CT of Suwon with a result of StrokeNet (urgent, 91), LungNet still running and BoneAge
    given up on, each model on an engine of its own (a job is one study for one engine)."""
    ct = ingest_ct(sites["SUWON"])
    models = {name: make_model(product=name) for name in ("StrokeNet", "LungNet", "BoneAge")}
    jobs = {"StrokeNet": JobStatus.DONE, "LungNet": JobStatus.SENT, "BoneAge": JobStatus.FAILED}
    for name, model in models.items():
        engine, _ = make_engine(f"engine-{name.lower()}", models=[model], sites=[sites["SUWON"]])
        reason = FAILURE_REASON if jobs[name] == JobStatus.FAILED else ""
        AIJob.objects.create(study=ct.study, engine=engine, status=jobs[name], reason=reason)
    store(ct.study, models["StrokeNet"], case_score=91.4, triage_flag=True)
    refresh_study_ai(ct.study)
    return Study.objects.get(pk=ct.study.pk)


def model_chip(html: str, model: str) -> str:
    """The one `ai-model` element of the row naming `model`."""
    chips = re.findall(r'<span class="ai-model [^"]*"[^>]*>.*?</span></span>', html)
    named = [chip for chip in chips if f'<span class="ai-name">{model}</span>' in chip]
    assert len(named) == 1, chips
    return named[0]


def row_of(client, study: Study) -> str:
    html = client.get(HOME).content.decode()
    start = html.index(f'id="study-{study.pk}"')
    return html[start : html.index("</tr>", start)]


def test_each_model_shows_its_own_state(client, suwon_radiologist, study_with_three_models):
    client.force_login(suwon_radiologist)
    row = row_of(client, study_with_three_models)

    ready = model_chip(row, "StrokeNet")
    assert 'class="ai-model ai-ready urgent"' in ready
    assert '<span class="ai-flag" aria-label="urgent">!</span>' in ready
    assert re.search(r'<span class="ai-badge ai-ready ai-score"[^>]*>91</span>', ready)

    pending = model_chip(row, "LungNet")
    assert 'class="ai-model ai-pending"' in pending
    assert re.search(r'<span class="ai-badge ai-pending"[^>]*>Pending</span>', pending)
    assert "ai-score" not in pending and "ai-flag" not in pending

    failed = model_chip(row, "BoneAge")
    assert 'class="ai-model ai-failed"' in failed
    # The reason is the vendor's text: escaped into the tooltip, never markup.
    tooltip = "AI analysis failed: engine answered HTTP 503 &quot;busy&quot;"
    assert f'<span class="ai-badge ai-failed" title="{tooltip}">Failed</span>' in failed
    assert "ai-score" not in failed


def test_the_states_read_in_korean(client, suwon_radiologist, study_with_three_models):
    client.force_login(suwon_radiologist)
    with translation.override("ko"):
        client.cookies["django_language"] = "ko"
        row = row_of(client, study_with_three_models)
    assert re.search(r'<span class="ai-badge ai-pending"[^>]*>대기</span>', model_chip(row, "LungNet"))
    assert re.search(r'<span class="ai-badge ai-failed"[^>]*>실패</span>', model_chip(row, "BoneAge"))


def test_a_failed_model_without_a_reason_still_has_a_tooltip(client, suwon_radiologist, sites):
    ct = ingest_ct(sites["SUWON"])
    summary = [
        {"model": "BoneAge", "vendor": "Acme", "version": "1", "score": None, "urgent": False, "state": "failed"}
    ]
    workflow.record_ai_summary(study=ct.study, ai_status=AiStatus.FAILED, summary=summary)
    client.force_login(suwon_radiologist)
    chip = model_chip(row_of(client, ct.study), "BoneAge")
    assert '<span class="ai-badge ai-failed" title="AI analysis failed">Failed</span>' in chip


def test_a_study_no_model_applies_to_says_no_ai(client, suwon_radiologist, sites):
    ct = ingest_ct(sites["SUWON"])
    workflow.record_ai_summary(study=ct.study, ai_status=AiStatus.NO_AI, summary=[])
    client.force_login(suwon_radiologist)
    row = row_of(client, ct.study)
    assert '<span class="ai-state ai-no_ai">No AI for this study</span>' in row
    assert "ai-model" not in row
