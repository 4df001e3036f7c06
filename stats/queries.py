"""The numbers of the agreement dashboard, each aggregated in the database over the rollups of
stats.models (a few thousand rows at most, whatever the number of studies), and the studies behind
any of them for the drill-down.

Definitions (one place, so every page and export agrees):
- A finding's verdict is its latest decision; undecided findings are not counted.
- An AI miss is a finding the reader added and has not removed.
- Study level: for each signed study and each model with a case score on it (its latest result),
  the AI call is positive when case_score >= the model's operating threshold; the report is
  positive when, at signing, any AI finding of a model of the same clinical area was accepted or
  modified, or the reader added a finding. Finding type does not filter study-level figures.
- Every date is the study's arrival date (Asia/Seoul); week and month periods start on that date's
  Monday or first of the month.
- A model filter selects misses and turnaround by the models' clinical areas (they belong to the
  study, not to one model)."""

from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import BigIntegerField, ExpressionWrapper, F, Max, Min, Q, QuerySet, Sum

from ai_overlays.models import AIModel
from reading.models import RejectionReason, Verdict
from stats import estimates
from stats.estimates import Estimate, TwoByTwo
from stats.filters import StatsFilter
from stats.models import (
    ALL,
    DAY,
    PART,
    SCORE_BIN_WIDTH,
    AgreementRollup,
    Cube,
    FindingFact,
    FindingRollup,
    MissFact,
    MissRollup,
    ScoreRollup,
    Segment,
    StudyCall,
    TurnaroundFact,
    TurnaroundRollup,
    next_part_start,
    part_start,
)
from stats.turnaround_buckets import quantile
from worklist.models import Study

DECIDED = (Verdict.ACCEPTED, Verdict.MODIFIED, Verdict.REJECTED)


@dataclass(frozen=True)
class VerdictSummary:
    accepted: int
    modified: int
    rejected: int
    misses: int
    # Each share of the decided findings, with its Wilson interval.
    accepted_rate: Estimate
    modified_rate: Estimate
    rejected_rate: Estimate

    @property
    def decided(self) -> int:
        return self.accepted + self.modified + self.rejected


@dataclass(frozen=True)
class ReasonCount:
    reason: str
    label: str
    count: int
    share: Estimate  # of the rejected findings


@dataclass(frozen=True)
class ScoreBin:
    low: int  # scores low <= s < low + width (the last bin includes 100); low -1 = no score
    high: int
    accepted: int
    modified: int
    rejected: int


@dataclass(frozen=True)
class ModelScores:
    model_id: int
    model: str
    threshold: int
    bins: list[ScoreBin]


@dataclass(frozen=True)
class ModelAgreement:
    model_id: int
    model: str
    clinical_area: str
    threshold: int
    table: TwoByTwo
    sensitivity: Estimate
    specificity: Estimate
    ppv: Estimate
    npv: Estimate
    kappa: Estimate


@dataclass(frozen=True)
class TurnaroundRow:
    segment: str
    segment_label: str
    urgent: bool
    count: int
    median_seconds: float | None
    p90_seconds: float | None


@dataclass(frozen=True)
class PeriodVerdicts:
    period: date
    accepted: int
    modified: int
    rejected: int
    misses: int
    acceptance: Estimate  # (accepted + modified) / decided


@dataclass(frozen=True)
class PeriodAgreement:
    period: date
    model_id: int
    model: str
    table: TwoByTwo
    kappa: Estimate


@dataclass(frozen=True)
class StudyPage:
    studies: list[Study]
    next_after: int | None  # pass as `after` for the next page; None on the last one


def models_in_scope(stats_filter: StatsFilter) -> list[AIModel]:
    """The models the filter selects (every model when it names none)."""
    return [
        model
        for model in stats_filter.registered_models
        if (not stats_filter.model_ids or model.pk in stats_filter.model_ids)
        and (not stats_filter.version or model.version == stats_filter.version)
        and (not stats_filter.clinical_area or model.clinical_area == stats_filter.clinical_area)
    ]


def verdict_summary(stats_filter: StatsFilter) -> VerdictSummary:
    counts = dict(
        _rollup(FindingRollup, _finding_scope(stats_filter), stats_filter, ("verdict",))
        .values_list("verdict")
        .annotate(n=Sum("count"))
        .values_list("verdict", "n")
    )
    accepted, modified, rejected = (counts.get(verdict, 0) or 0 for verdict in DECIDED)
    decided = accepted + modified + rejected
    return VerdictSummary(
        accepted=accepted,
        modified=modified,
        rejected=rejected,
        misses=_total(_rollup(MissRollup, _miss_scope(stats_filter), stats_filter)),
        accepted_rate=estimates.proportion(accepted, decided),
        modified_rate=estimates.proportion(modified, decided),
        rejected_rate=estimates.proportion(rejected, decided),
    )


def finding_types() -> list[str]:
    """Every finding type counted, for the filter's choices (from the smallest cube, not the days)."""
    cube = next(cube for cube in FindingRollup.CUBES if cube.grain == ALL and "finding_type" in cube.dims)
    return list(
        FindingRollup.objects.filter(cube=cube.code)
        .order_by("finding_type")
        .values_list("finding_type", flat=True)
        .distinct()
    )


def rejection_reasons(stats_filter: StatsFilter) -> list[ReasonCount]:
    """Every reason, most frequent first; a rejection without a reason is listed as "other"."""
    counts = dict(
        _rollup(FindingRollup, _finding_scope(stats_filter) & Q(verdict=Verdict.REJECTED), stats_filter, ("reason",))
        .values_list("reason")
        .annotate(n=Sum("count"))
        .values_list("reason", "n")
    )
    counts[RejectionReason.OTHER] = counts.get(RejectionReason.OTHER, 0) + counts.pop("", 0)
    rejected = sum(counts.values())
    rows = [
        ReasonCount(reason, str(label), counts.get(reason, 0), estimates.proportion(counts.get(reason, 0), rejected))
        for reason, label in RejectionReason.choices
    ]
    return sorted(rows, key=lambda row: -row.count)


def score_distribution(stats_filter: StatsFilter) -> list[ModelScores]:
    """Per model, the finding scores of accepted, modified and rejected findings in bins of 10."""
    rows = (
        _rollup(ScoreRollup, _finding_scope(stats_filter), stats_filter, ("ai_model_id", "score_bin", "verdict"))
        .values_list("ai_model_id", "score_bin", "verdict")
        .annotate(n=Sum("count"))
    )
    counts: dict[int, dict[tuple[int, str], int]] = {}
    for model_id, score_bin, verdict, n in rows:
        counts.setdefault(model_id, {})[(score_bin, verdict)] = n
    result = []
    for model in _models_by_id(stats_filter, counts):
        by_bin = counts[model.pk]
        bins = [
            ScoreBin(
                low=score_bin * SCORE_BIN_WIDTH if score_bin >= 0 else -1,
                high=(score_bin + 1) * SCORE_BIN_WIDTH if score_bin >= 0 else -1,
                accepted=by_bin.get((score_bin, Verdict.ACCEPTED), 0),
                modified=by_bin.get((score_bin, Verdict.MODIFIED), 0),
                rejected=by_bin.get((score_bin, Verdict.REJECTED), 0),
            )
            for score_bin in range(-1, 100 // SCORE_BIN_WIDTH)
        ]
        if not any(bin.accepted or bin.modified or bin.rejected for bin in bins[:1]):
            bins = bins[1:]
        result.append(ModelScores(model.pk, str(model), model.operating_threshold, bins))
    return result


def study_agreement(stats_filter: StatsFilter) -> list[ModelAgreement]:
    """Per model with signed studies in scope: the 2x2 table and its figures."""
    rollups = _rollup(AgreementRollup, _agreement_scope(stats_filter), stats_filter, ("ai_model_id", *CELL_FIELDS))
    tables = _tables(rollups, ("ai_model_id",))
    result = []
    for model in _models_by_id(stats_filter, {key[0] for key in tables}):
        table = tables[(model.pk,)]
        result.append(
            ModelAgreement(
                model_id=model.pk,
                model=str(model),
                clinical_area=model.clinical_area,
                threshold=model.operating_threshold,
                table=table,
                sensitivity=estimates.sensitivity(table),
                specificity=estimates.specificity(table),
                ppv=estimates.positive_predictive_value(table),
                npv=estimates.negative_predictive_value(table),
                kappa=estimates.cohens_kappa(table),
            )
        )
    return result


def turnaround(stats_filter: StatsFilter) -> list[TurnaroundRow]:
    """Median and 90th percentile of each step, AI-urgent studies against the rest."""
    rows = (
        _rollup(TurnaroundRollup, _study_scope(stats_filter), stats_filter, ("segment", "urgent", "bucket"))
        .values_list("segment", "urgent", "bucket")
        .annotate(n=Sum("count"))
    )
    counts: dict[tuple[str, bool], dict[int, int]] = {}
    for segment, urgent, bucket, n in rows:
        counts.setdefault((segment, urgent), {})[bucket] = n
    result = []
    for segment, label in Segment.choices:
        for urgent in (True, False):
            buckets = counts.get((segment, urgent), {})
            result.append(
                TurnaroundRow(
                    segment, str(label), urgent, sum(buckets.values()), quantile(buckets, 0.5), quantile(buckets, 0.9)
                )
            )
    return result


def verdict_series(stats_filter: StatsFilter) -> list[PeriodVerdicts]:
    """Verdicts and misses per week or month, oldest first."""
    period = _period(stats_filter)
    verdicts: dict[date, dict[str, int]] = {}
    for day, verdict, n in (
        _rollup(FindingRollup, _finding_scope(stats_filter), stats_filter, ("verdict",), by_period=True)
        .values_list("day", "verdict")
        .annotate(n=Sum("count"))
        .order_by()
    ):
        counts = verdicts.setdefault(period(_as_date(day)), {})
        counts[verdict] = counts.get(verdict, 0) + n
    misses: dict[date, int] = {}
    for day, n in (
        _rollup(MissRollup, _miss_scope(stats_filter), stats_filter, by_period=True)
        .values_list("day")
        .annotate(n=Sum("count"))
        .order_by()
    ):
        start = period(_as_date(day))
        misses[start] = misses.get(start, 0) + n
    result = []
    for start in sorted(set(verdicts) | set(misses)):
        counts = verdicts.get(start, {})
        accepted, modified, rejected = (counts.get(verdict, 0) for verdict in DECIDED)
        result.append(
            PeriodVerdicts(
                start,
                accepted,
                modified,
                rejected,
                misses.get(start, 0),
                estimates.proportion(accepted + modified, accepted + modified + rejected),
            )
        )
    return result


def agreement_series(stats_filter: StatsFilter) -> list[PeriodAgreement]:
    """Kappa per model and week or month, oldest first."""
    rollups = _rollup(
        AgreementRollup, _agreement_scope(stats_filter), stats_filter, ("ai_model_id", *CELL_FIELDS), by_period=True
    )
    tables = _tables(rollups, ("day", "ai_model_id"), period=_period(stats_filter))
    models = {model.pk: model for model in _models_by_id(stats_filter, {key[1] for key in tables})}
    return [
        PeriodAgreement(_as_date(start), model_id, str(models[model_id]), table, estimates.cohens_kappa(table))
        for (start, model_id), table in sorted(tables.items(), key=lambda item: (_as_date(item[0][0]), item[0][1]))
        if model_id in models
    ]


# The drill-down: what a number counts, as facts; every figure above maps to one of these.
METRICS = ("verdict", "reason", "score", "miss", "agreement", "turnaround")
CELL_FIELDS = ("ai_positive", "report_positive")
CELLS = {
    "tp": (True, True),
    "fp": (True, False),
    "fn": (False, True),
    "tn": (False, False),
}


def drill_down(
    stats_filter: StatsFilter,
    *,
    metric: str,
    value: str = "",
    model_id: int | None = None,
    score_bin: int | None = None,
) -> QuerySet[Study]:
    """The studies behind one number. metric/value: verdict/accepted|modified|rejected|"" (any),
    reason/<reason>, score/<verdict> with score_bin (and model_id), miss, agreement/tp|fp|fn|tn|""
    with model_id, turnaround/urgent|other|"". Narrow the period with the filter's dates."""
    dates = _date_scope(stats_filter)
    if metric in ("verdict", "reason", "score"):
        facts = FindingFact.objects.filter(_finding_scope(stats_filter), dates)
        if metric == "reason":
            facts = facts.filter(verdict=Verdict.REJECTED, reason=value)
        elif value:
            facts = facts.filter(verdict=value)
        if metric == "score" and score_bin is not None:
            facts = facts.filter(score_bin=score_bin)
        if model_id is not None:
            facts = facts.filter(ai_model_id=model_id)
    elif metric == "miss":
        facts = MissFact.objects.filter(_miss_scope(stats_filter), dates)
    elif metric == "agreement":
        facts = StudyCall.objects.filter(_agreement_scope(stats_filter), dates)
        if value in CELLS:
            ai_positive, report_positive = CELLS[value]
            facts = facts.filter(ai_positive=ai_positive, report_positive=report_positive)
        if model_id is not None:
            facts = facts.filter(ai_model_id=model_id)
    elif metric == "turnaround":
        facts = TurnaroundFact.objects.filter(_study_scope(stats_filter), dates)
        if value in ("urgent", "other"):
            facts = facts.filter(urgent=value == "urgent")
    else:
        raise ValueError(f"unknown metric {metric!r}")
    studies = Study.objects.all()
    if dates:
        # Study ids rise with arrival, but the planner assumes matches are spread evenly and walks
        # every newer study down to the range; the range's own bounds (read without the
        # min/max-by-index shortcut that would walk the same way) start the walk in place.
        bounds = facts.aggregate(
            low=Min(ExpressionWrapper(F("study_id") + 0, output_field=BigIntegerField())),
            high=Max(ExpressionWrapper(F("study_id") + 0, output_field=BigIntegerField())),
        )
        if bounds["high"] is None:
            return Study.objects.none()
        facts = facts.filter(study_id__gte=bounds["low"], study_id__lte=bounds["high"])
        studies = studies.filter(pk__gte=bounds["low"], pk__lte=bounds["high"])
    return studies.filter(pk__in=facts.values("study_id")).order_by("-id")


def study_page(studies: QuerySet[Study], *, after: int | None = None, limit: int = 50) -> StudyPage:
    """One keyset page of a drill-down, newest study first."""
    if after is not None:
        studies = studies.filter(pk__lt=after)
    page = list(studies.select_related("site")[: limit + 1])
    more = len(page) > limit
    page = page[:limit]
    return StudyPage(page, page[-1].pk if more else None)


def _date_scope(stats_filter: StatsFilter) -> Q:
    scope = Q()
    if stats_filter.date_from:
        scope &= Q(day__gte=stats_filter.date_from)
    if stats_filter.date_to:
        scope &= Q(day__lte=stats_filter.date_to)
    return scope


def _rollup(rollup, scope: Q, stats_filter: StatsFilter, group: tuple[str, ...] = (), *, by_period=False) -> QuerySet:
    """The rows of `rollup` that a figure sums: `scope` (no dates) in the smallest cube holding every
    dimension the scope and `group` name, and the filter's date range from whole week/month parts
    plus the days at its edges (stats.models' cubes)."""
    needed = _fields(scope) | set(group)

    def covering(grain: str) -> Cube | None:
        return next((cube for cube in rollup.CUBES if cube.grain == grain and needed <= cube.dims), None)

    day_cube = covering(DAY)
    dated = stats_filter.date_from or stats_filter.date_to
    if not dated and not by_period:
        return rollup.objects.filter(scope, cube=(covering(ALL) or covering(PART) or day_cube).code)
    part = covering(PART)
    if part is None:
        return rollup.objects.filter(scope, _date_scope(stats_filter), cube=day_cube.code)
    if not dated:
        return rollup.objects.filter(scope, cube=part.code)
    first, last = stats_filter.date_from, stats_filter.date_to
    # Whole parts: lo <= part start < hi; the days of [first, lo) and [hi, last] from the day cube.
    lo = first and (first if part_start(first) == first else next_part_start(first))
    hi = last and part_start(last + timedelta(days=1))
    if lo and hi and lo >= hi:
        return rollup.objects.filter(scope, _date_scope(stats_filter), cube=day_cube.code)
    parts = Q(cube=part.code)
    edges = []
    if lo:
        parts &= Q(day__gte=lo)
        if first < lo:
            edges.append(Q(day__gte=first, day__lt=lo))
    if hi:
        parts &= Q(day__lt=hi)
        if hi <= last:
            edges.append(Q(day__gte=hi, day__lte=last))
    for edge in edges:
        parts |= Q(cube=day_cube.code) & edge
    return rollup.objects.filter(scope, parts)


def _fields(scope: Q) -> set[str]:
    names = set()
    for child in scope.children:
        if isinstance(child, Q):
            names |= _fields(child)
        else:
            names.add(child[0].split("__")[0])
    return names


def _common_scope(stats_filter: StatsFilter) -> Q:
    scope = Q()
    if stats_filter.site_id:
        scope &= Q(site_id=stats_filter.site_id)
    if stats_filter.reader_id:
        scope &= Q(reader_id=stats_filter.reader_id)
    if stats_filter.clinical_area:
        scope &= Q(clinical_area=stats_filter.clinical_area)
    return scope


def _model_scope(stats_filter: StatsFilter) -> Q:
    if stats_filter.model_ids or stats_filter.version:
        return Q(ai_model_id__in=[model.pk for model in models_in_scope(stats_filter)])
    return Q()


def _finding_scope(stats_filter: StatsFilter) -> Q:
    scope = _common_scope(stats_filter) & _model_scope(stats_filter)
    if stats_filter.finding_type:
        scope &= Q(finding_type=stats_filter.finding_type)
    return scope


def _agreement_scope(stats_filter: StatsFilter) -> Q:
    return _common_scope(stats_filter) & _model_scope(stats_filter)


def _study_scope(stats_filter: StatsFilter) -> Q:
    scope = _common_scope(stats_filter)
    if stats_filter.model_ids or stats_filter.version:
        scope &= Q(clinical_area__in={model.clinical_area for model in models_in_scope(stats_filter)})
    return scope


def _miss_scope(stats_filter: StatsFilter) -> Q:
    scope = _study_scope(stats_filter)
    if stats_filter.finding_type:
        scope &= Q(finding_type=stats_filter.finding_type)
    return scope


def _tables(rollups: QuerySet, keys: tuple[str, ...], period=None) -> dict[tuple, TwoByTwo]:
    """2x2 tables by `keys`; with `period`, the first key is a day (or part start) made a period."""
    cells: dict[tuple, dict[tuple[bool, bool], int]] = {}
    for *key, ai_positive, report_positive, n in (
        rollups.values_list(*keys, "ai_positive", "report_positive").annotate(n=Sum("count")).order_by()
    ):
        if period is not None:
            key[0] = period(_as_date(key[0]))
        counts = cells.setdefault(tuple(key), {})
        cell = (bool(ai_positive), bool(report_positive))
        counts[cell] = counts.get(cell, 0) + n
    return {
        key: TwoByTwo(
            true_positive=counts.get((True, True), 0),
            false_positive=counts.get((True, False), 0),
            false_negative=counts.get((False, True), 0),
            true_negative=counts.get((False, False), 0),
        )
        for key, counts in cells.items()
    }


def _models_by_id(stats_filter: StatsFilter, model_ids) -> list[AIModel]:
    wanted = set(model_ids)
    return [model for model in stats_filter.registered_models if model.pk in wanted]


def _total(rollups: QuerySet) -> int:
    return rollups.aggregate(n=Sum("count"))["n"] or 0


def _period(stats_filter: StatsFilter):
    """The start of the week or month of a day (a part of stats.models lies in one of each)."""
    if stats_filter.granularity == "month":
        return _month_start
    return _week_start


def _week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _as_date(value) -> date:
    return value.date() if hasattr(value, "date") and callable(value.date) else value
