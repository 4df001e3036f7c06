"""Labels born from reading: accepted and modified AI findings with their geometry, the findings
radiologists added, and rejected AI findings as negatives; each with the model it came from and the
reader's role, never the reader's name. UIDs are the exported (remapped) ones."""

from collections.abc import Callable

from data_platform.cohorts import CohortDefinition, ai_findings, latest_decisions
from reading.models import ReaderFinding, Verdict
from worklist.models import Study

POSITIVE = "positive"
NEGATIVE = "negative"


def study_labels(study: Study, *, definition: CohortDefinition, remap: Callable[[str], str]) -> list[dict]:
    decisions = (
        latest_decisions()
        .filter(study=study, finding__in=ai_findings(definition))
        .select_related("finding__result__ai_model", "decided_by")
        .order_by("finding_id")
    )
    labels = []
    for decision in decisions:
        finding, model = decision.finding, decision.finding.result.ai_model
        modified = decision.verdict == Verdict.MODIFIED and decision.geometry_kind
        labels.append(
            _label(
                kind=POSITIVE if decision.verdict != Verdict.REJECTED else NEGATIVE,
                verdict=decision.verdict,
                finding_type=finding.finding_type,
                label=(decision.label or finding.label) if decision.verdict == Verdict.MODIFIED else finding.label,
                geometry_kind=decision.geometry_kind if modified else finding.geometry_kind,
                geometry=decision.geometry if modified else finding.geometry,
                series=finding.series_instance_uid,
                sop=finding.sop_instance_uid,
                frame=finding.frame,
                model={"vendor": model.vendor, "product": model.product, "version": model.version},
                ai_score=finding.score,
                reader_role=decision.decided_by.role,
                remap=remap,
            )
        )
    added = ReaderFinding.objects.filter(study=study, removed_at=None).select_related("created_by").order_by("pk")
    for finding in added:
        labels.append(
            _label(
                kind=POSITIVE,
                verdict="added",
                finding_type=finding.finding_type,
                label=finding.label,
                geometry_kind=finding.geometry_kind,
                geometry=finding.geometry,
                series=finding.series_instance_uid,
                sop=finding.sop_instance_uid,
                frame=finding.frame,
                model=None,
                ai_score=None,
                reader_role=finding.created_by.role,
                remap=remap,
            )
        )
    for number, label in enumerate(labels, start=1):
        label["label_number"] = number
    return labels


def _label(*, series: str, sop: str, remap: Callable[[str], str], **fields) -> dict:
    return {
        **fields,
        "series_instance_uid": remap(series) if series else "",
        "sop_instance_uid": remap(sop) if sop else "",
    }
