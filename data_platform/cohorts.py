"""A cohort definition and what it selects: the studies, and the counts a steward sees before
exporting (patients, studies, series, instances, labels per type), each one ORM aggregate."""

from dataclasses import asdict, dataclass
from datetime import date

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery

from ai_overlays.models import Finding
from reading.models import FindingDecision, ReaderFinding, Verdict
from worklist.models import Instance, Series, Study

VERDICT_CHOICES = ("accepted", "rejected", "modified", "added")


@dataclass(frozen=True)
class CohortDefinition:
    sites: tuple[str, ...] = ()
    modality: str = ""
    clinical_area: str = ""
    body_part: str = ""
    date_from: date | None = None
    date_to: date | None = None
    ai_model: int | None = None  # an AIModel row: vendor, product and version
    verdict: str = ""  # one of VERDICT_CHOICES, or any

    @classmethod
    def from_json(cls, data: dict) -> "CohortDefinition":
        return cls(
            sites=tuple(sorted(data.get("sites") or ())),
            modality=data.get("modality") or "",
            clinical_area=data.get("clinical_area") or "",
            body_part=data.get("body_part") or "",
            date_from=date.fromisoformat(data["date_from"]) if data.get("date_from") else None,
            date_to=date.fromisoformat(data["date_to"]) if data.get("date_to") else None,
            ai_model=int(data["ai_model"]) if data.get("ai_model") else None,
            verdict=data.get("verdict") or "",
        )

    def to_json(self) -> dict:
        data = asdict(self)
        data["sites"] = list(self.sites)
        data["date_from"] = self.date_from.isoformat() if self.date_from else None
        data["date_to"] = self.date_to.isoformat() if self.date_to else None
        return data


def latest_decisions() -> QuerySet[FindingDecision]:
    """The current verdict of each decided AI finding (the highest revision), undos left out."""
    newest = FindingDecision.objects.filter(finding=OuterRef("finding")).order_by("-revision").values("revision")[:1]
    return FindingDecision.objects.filter(revision=Subquery(newest)).exclude(verdict=Verdict.UNDECIDED)


def ai_findings(definition: CohortDefinition) -> QuerySet[Finding]:
    findings = Finding.objects.all()
    if definition.ai_model:
        findings = findings.filter(result__ai_model_id=definition.ai_model)
    return findings


def studies_for(definition: CohortDefinition) -> QuerySet[Study]:
    studies = Study.objects.all()
    if definition.sites:
        studies = studies.filter(site__code__in=definition.sites)
    if definition.modality:
        studies = studies.filter(series__modality=definition.modality)
    if definition.clinical_area:
        studies = studies.filter(clinical_area=definition.clinical_area)
    if definition.body_part:
        studies = studies.filter(
            Q(body_part__iexact=definition.body_part) | Q(series__body_part__iexact=definition.body_part)
        )
    if definition.date_from:
        studies = studies.filter(study_date__gte=definition.date_from)
    if definition.date_to:
        studies = studies.filter(study_date__lte=definition.date_to)
    if definition.ai_model:
        studies = studies.filter(ai_results__ai_model_id=definition.ai_model)
    if definition.verdict == "added":
        studies = studies.filter(reader_findings__removed_at=None, reader_findings__isnull=False)
    elif definition.verdict:
        decided = latest_decisions().filter(verdict=definition.verdict, finding__in=ai_findings(definition))
        studies = studies.filter(pk__in=decided.values("study_id"))
    # The filters above join to many rows; the ids make the set distinct without DISTINCT on every column.
    return Study.objects.filter(pk__in=studies.values("pk")).order_by("study_instance_uid")


def counts(definition: CohortDefinition) -> dict[str, int]:
    studies = studies_for(definition)
    totals = studies.aggregate(patients=Count("patient", distinct=True), studies=Count("pk", distinct=True))
    totals["series"] = Series.objects.filter(study__in=studies).count()
    totals["instances"] = Instance.objects.filter(series__study__in=studies).count()
    decided = latest_decisions().filter(study__in=studies, finding__in=ai_findings(definition))
    by_verdict = dict(decided.values_list("verdict").annotate(n=Count("pk")).order_by())
    for verdict in ("accepted", "rejected", "modified"):
        totals[f"labels_{verdict}"] = by_verdict.get(verdict, 0)
    totals["labels_added"] = ReaderFinding.objects.filter(study__in=studies, removed_at=None).count()
    return totals
