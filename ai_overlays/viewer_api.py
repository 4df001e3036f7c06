"""What the viewer draws of the AI: every model's results for one study as JSON, and the stored
heatmap PNGs. Both answer fetch() with 401/403/404 JSON, never a redirect to the login page.

Reading the results is a view of the patient's record, audited once per fetch as AI results viewed
(the action the verdict panel's state is audited with); the heatmap images it lists are not audited
one by one (like the frames behind a manifest), but each is still reached through access_study."""

from collections.abc import Callable
from typing import Any

from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse

from accounts import audit
from accounts.models import AuditAction
from ai_overlays.models import AIModel, AIResult, Finding, Heatmap
from worklist.access import access_study
from worklist.json_api import api_view
from worklist.models import Study

# A heatmap row never changes once stored (results are idempotent), so its URL may be kept.
IMMUTABLE = "private, max-age=31536000, immutable"


def ai_results_api(view: Callable[..., HttpResponse]) -> Callable[..., Any]:
    """A GET endpoint of the viewer's AI: worklist.json_api.api_view for those who may view AI results."""
    return api_view(view, requires="view_ai_results", forbidden="you may not see the AI results of this study")


@ai_results_api
def study_results(request: HttpRequest, study_uid: str) -> HttpResponse:
    source = audit.client_address(request)
    study = access_study(request.user, study_uid, source=source)
    audit.record(
        action=AuditAction.AI_RESULTS_VIEWED,
        user=request.user,
        source=source,
        study_uid=study.study_instance_uid,
        patient_ref=study.patient_id,
    )
    response = JsonResponse({"study": study.study_instance_uid, "models": models_json(study)})
    response["Cache-Control"] = "private, no-cache"
    return response


@ai_results_api
def heatmap_png(request: HttpRequest, heatmap_id: int) -> HttpResponse:
    heatmap = Heatmap.objects.filter(pk=heatmap_id).select_related("result__study").first()
    if heatmap is None:
        raise Http404("No such heatmap")
    access_study(request.user, heatmap.result.study.study_instance_uid, source=audit.client_address(request))
    etag = f'"heatmap-{heatmap.pk}"'
    if etag in request.headers.get("If-None-Match", ""):
        response = HttpResponse(status=304)
    else:
        response = HttpResponse(bytes(heatmap.png), content_type="image/png")
    response["ETag"] = etag
    response["Cache-Control"] = IMMUTABLE
    return response


def models_json(study: Study) -> list[dict[str, Any]]:
    """One entry per model with results for the study, in model order; its case score, flag and
    summary are those of its newest result, its findings and heatmaps those of every result."""
    results = (
        AIResult.objects.filter(study=study)
        .select_related("ai_model")
        .prefetch_related(
            Prefetch("findings", queryset=Finding.objects.order_by("id")),
            Prefetch("heatmaps", queryset=Heatmap.objects.defer("png").order_by("id")),
        )
        .order_by("received_at", "id")
    )
    by_model: dict[int, list[AIResult]] = {}
    for result in results:
        by_model.setdefault(result.ai_model_id, []).append(result)
    ordered = sorted(by_model.values(), key=lambda group: _model_order(group[0].ai_model))
    return [_model_entry(group) for group in ordered]


def _model_order(model: AIModel) -> tuple:
    # Reference results last: a clinical product's findings come first in the panel.
    return (model.is_reference, model.vendor, model.product, model.version)


def _model_entry(results: list[AIResult]) -> dict[str, Any]:
    model = results[0].ai_model
    newest = results[-1]
    scored = [result for result in results if result.case_score is not None]
    summaries = [result.summary for result in results if result.summary]
    return {
        "model": _model_json(model),
        "case_score": scored[-1].case_score if scored else None,
        "case_above_threshold": scored[-1].case_score >= model.operating_threshold if scored else None,
        "triage_flag": any(result.triage_flag for result in results),
        "summary": summaries[-1] if summaries else "",
        "received_at": newest.received_at.isoformat(),
        "results": [{"id": result.pk, "result_id": result.result_id, "source": result.source} for result in results],
        "findings": [_finding_json(finding, model) for result in results for finding in result.findings.all()],
        "heatmaps": [_heatmap_json(heatmap) for result in results for heatmap in result.heatmaps.all()],
    }


def _model_json(model: AIModel) -> dict[str, Any]:
    return {
        "id": model.pk,
        "vendor": model.vendor,
        "product": model.product,
        "version": model.version,
        "name": str(model),
        "colour": model.colour,
        "threshold": model.operating_threshold,
        "reference": model.is_reference,
        "clearance": model.regulatory_clearance,
    }


def _finding_json(finding: Finding, model: AIModel) -> dict[str, Any]:
    return {
        "id": finding.pk,
        "result": finding.result_id,
        "type": finding.finding_type,
        "label": finding.label,
        "score": finding.score,
        # A finding without a score is the model's statement as such, drawn as firmly as any.
        "above_threshold": finding.score is None or finding.score >= model.operating_threshold,
        "geometry_kind": finding.geometry_kind,
        "geometry": plain_geometry(finding),
        "series_uid": finding.series_instance_uid,
        "sop_uid": finding.sop_instance_uid,
        "frame": finding.frame,
    }


def plain_geometry(finding: Finding) -> Any:
    """The geometry as the contract writes it: [x, y], [x0, y0, x1, y1], [[x, y], ...] or
    {"min", "max"}; intake keeps 2D shapes under their kind ({"box": [...]}), so both are read."""
    geometry = finding.geometry
    if isinstance(geometry, dict) and finding.geometry_kind in geometry:
        return geometry[finding.geometry_kind]
    return geometry


def _heatmap_json(heatmap: Heatmap) -> dict[str, Any]:
    return {
        "id": heatmap.pk,
        "result": heatmap.result_id,
        "series_uid": heatmap.series_instance_uid,
        "sop_uid": heatmap.sop_instance_uid,
        "frame": heatmap.frame,
        "rows": heatmap.rows,
        "columns": heatmap.columns,
        "url": reverse("ai_overlays:viewer_heatmap", args=[heatmap.pk]),
    }
