"""The set-based recomputation behind `manage.py rebuild_stats`: each fact table is one
INSERT ... SELECT compiled from an ORM query (so it runs on SQLite and PostgreSQL alike), each
rollup one INSERT ... SELECT ... GROUP BY over its facts. Same definitions as stats.rollups."""

import math

from django.db import connection
from django.db.models import (
    BooleanField,
    Case,
    Count,
    DateField,
    Exists,
    F,
    FloatField,
    Func,
    IntegerField,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Cast, Floor, Greatest, Ln, TruncDate, TruncMonth, TruncWeek

from ai_overlays.models import AIResult
from reading.models import FindingDecision, ReaderFinding, ReportStatus, Verdict
from stats.models import (
    ALL_TIME,
    DAY_CUBE,
    NO_SCORE_BIN,
    PART,
    SCORE_BIN_WIDTH,
    AgreementRollup,
    Cube,
    FindingFact,
    FindingRollup,
    MissFact,
    MissRollup,
    ScoreRollup,
    StudyCall,
    TurnaroundFact,
    TurnaroundRollup,
    sentinel,
)
from stats.rollups import POSITIVE_VERDICTS, SEGMENTS
from stats.turnaround_buckets import BASE, LAST_BUCKET
from worklist.models import Study


class Seconds(Func):
    """Seconds since the epoch of a timestamp, as a float."""

    output_field = FloatField()

    def as_sql(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"EXTRACT(EPOCH FROM {sql})", params

    def as_sqlite(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"((julianday({sql}) - 2440587.5) * 86400.0)", params


def _insert(model, queryset: QuerySet) -> None:
    """INSERT INTO model's table the rows of a .values(**columns) queryset (column order kept)."""
    names = [name.removeprefix("c_") for name in queryset.query.annotation_select]
    columns = ", ".join(connection.ops.quote_name(model._meta.get_field(name).column) for name in names)
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {connection.ops.quote_name(model._meta.db_table)} ({columns}) {sql}", params)  # noqa: S608


def _columns(**expressions):
    # Prefixed: an annotation may not take the name of a field of the queried model.
    return {f"c_{name}": expression for name, expression in expressions.items()}


def _latest_decisions() -> QuerySet:
    later = FindingDecision.objects.filter(finding_id=OuterRef("finding_id"), revision__gt=OuterRef("revision"))
    return FindingDecision.objects.filter(~Exists(later))


def fill_facts() -> None:
    _insert(
        FindingFact,
        _latest_decisions()
        .exclude(verdict=Verdict.UNDECIDED)
        .order_by()
        .values(
            **_columns(
                finding_id=F("finding_id"),
                study_id=F("study_id"),
                day=TruncDate("study__received_at"),
                ai_model_id=F("finding__result__ai_model_id"),
                site_id=F("study__site_id"),
                clinical_area=F("finding__result__ai_model__clinical_area"),
                finding_type=F("finding__finding_type"),
                reader_id=F("decided_by_id"),
                verdict=F("verdict"),
                reason=Case(When(verdict=Verdict.REJECTED, then=F("reason")), default=Value("")),
                score_bin=Case(
                    When(finding__score__isnull=True, then=Value(NO_SCORE_BIN)),
                    When(finding__score__gte=100, then=Value(100 // SCORE_BIN_WIDTH - 1)),
                    When(finding__score__lt=0, then=Value(0)),
                    default=Cast(Floor(F("finding__score") / SCORE_BIN_WIDTH), IntegerField()),
                ),
            )
        ),
    )
    _insert(
        MissFact,
        ReaderFinding.objects.filter(removed_at__isnull=True)
        .order_by()
        .values(
            **_columns(
                reader_finding_id=F("id"),
                study_id=F("study_id"),
                day=TruncDate("study__received_at"),
                site_id=F("study__site_id"),
                clinical_area=F("study__clinical_area"),
                finding_type=F("finding_type"),
                reader_id=F("created_by_id"),
            )
        ),
    )
    later_result = AIResult.objects.filter(study_id=OuterRef("study_id"), ai_model_id=OuterRef("ai_model_id")).filter(
        Q(received_at__gt=OuterRef("received_at")) | Q(received_at=OuterRef("received_at"), id__gt=OuterRef("id"))
    )
    accepted_in_area = _latest_decisions().filter(
        study_id=OuterRef("study_id"),
        verdict__in=POSITIVE_VERDICTS,
        finding__result__ai_model__clinical_area=OuterRef("ai_model__clinical_area"),
    )
    reader_added = ReaderFinding.objects.filter(study_id=OuterRef("study_id"), removed_at__isnull=True)
    _insert(
        StudyCall,
        AIResult.objects.filter(study__report__status=ReportStatus.SIGNED, case_score__isnull=False)
        .filter(~Exists(later_result))
        .order_by()
        .values(
            **_columns(
                study_id=F("study_id"),
                ai_model_id=F("ai_model_id"),
                day=TruncDate("study__received_at"),
                site_id=F("study__site_id"),
                clinical_area=F("ai_model__clinical_area"),
                reader_id=F("study__report__signed_by_id"),
                ai_positive=Case(
                    When(case_score__gte=F("ai_model__operating_threshold"), then=Value(True)),
                    default=Value(False),
                    output_field=BooleanField(),
                ),
                report_positive=Case(
                    When(Exists(accepted_in_area) | Exists(reader_added), then=Value(True)),
                    default=Value(False),
                    output_field=BooleanField(),
                ),
            )
        ),
    )
    first_ai = Subquery(
        AIResult.objects.filter(study_id=OuterRef("pk"))
        .order_by()
        .values("study_id")
        .annotate(first=Min("received_at"))
        .values("first")
    )
    studies = Study.objects.filter(report__status=ReportStatus.SIGNED).annotate(
        arrival_s=Seconds("received_at"),
        ai_s=Seconds(first_ai),
        claim_s=Seconds("claimed_at"),
        sign_s=Seconds("report__signed_at"),
    )
    _insert(
        TurnaroundFact,
        studies.order_by().values(
            **_columns(
                study_id=F("id"),
                day=TruncDate("received_at"),
                site_id=F("site_id"),
                clinical_area=F("clinical_area"),
                reader_id=F("report__signed_by_id"),
                urgent=F("ai_urgent"),
                arrival_ai=_span("arrival_s", "ai_s"),
                ai_claim=_span("ai_s", "claim_s"),
                claim_sign=_span("claim_s", "sign_s"),
                arrival_sign=_span("arrival_s", "sign_s"),
            )
        ),
    )


def _span(start: str, end: str) -> Case:
    return Case(When(**{f"{end}__gte": F(start)}, then=F(end) - F(start)), default=None, output_field=FloatField())


def fill_rollups() -> None:
    """The day cube of each rollup from its facts, then every other cube from the day cube."""
    for rollup, facts in (
        (FindingRollup, FindingFact.objects.all()),
        (ScoreRollup, FindingFact.objects.all()),
        (MissRollup, MissFact.objects.all()),
        (AgreementRollup, StudyCall.objects.all()),
    ):
        grouped = (
            facts.order_by()
            .annotate(cube_code=Value(DAY_CUBE))
            .values("cube_code", *rollup.DIMENSIONS)
            .annotate(count=Count("*"))
        )
        _insert_grouped(rollup, grouped, ["cube", *rollup.DIMENSIONS])
    for segment in SEGMENTS:
        seconds = F(segment)
        bucket = Case(
            When(**{f"{segment}__lt": 1}, then=Value(0)),
            When(**{f"{segment}__gte": BASE ** (LAST_BUCKET - 1)}, then=Value(LAST_BUCKET)),
            default=Cast(Floor(Ln(seconds) / math.log(BASE)), IntegerField()) + 1,
        )
        grouped = (
            TurnaroundFact.objects.filter(**{f"{segment}__isnull": False})
            .order_by()
            .annotate(cube_code=Value(DAY_CUBE), segment_name=Value(segment), bucket_number=bucket)
            .values(
                "cube_code", "day", "site_id", "clinical_area", "reader_id", "urgent", "segment_name", "bucket_number"
            )
            .annotate(count=Count("*"))
        )
        _insert_grouped(
            TurnaroundRollup,
            grouped,
            ["cube", "day", "site_id", "clinical_area", "reader_id", "urgent", "segment", "bucket"],
        )
    for rollup in (FindingRollup, ScoreRollup, MissRollup, AgreementRollup, TurnaroundRollup):
        for cube in rollup.CUBES:
            if cube.code != DAY_CUBE:
                fill_cube(rollup, cube)


def fill_cube(rollup, cube: Cube) -> None:
    """One cube of a rollup, summed from its day cube."""
    if cube.grain == PART:
        day = Cast(Greatest(TruncWeek("day"), TruncMonth("day")), DateField())
    else:
        day = Value(ALL_TIME, output_field=DateField())
    columns = {"cube": Value(cube.code), "day": day}
    for name in rollup.DIMENSIONS[1:]:
        if name in cube.dims:
            columns[name] = F(name)
        else:
            columns[name] = Value(sentinel(rollup, name), output_field=rollup._meta.get_field(name).__class__())
    grouped = (
        rollup.objects.filter(cube=DAY_CUBE)
        .order_by()
        .values(**_columns(**columns))
        .annotate(total=Sum("count"))
        .exclude(total=0)
    )
    _insert_grouped(rollup, grouped, list(columns))


def _insert_grouped(rollup, queryset: QuerySet, names: list[str]) -> None:
    columns = ", ".join(connection.ops.quote_name(rollup._meta.get_field(name).column) for name in [*names, "count"])
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {connection.ops.quote_name(rollup._meta.db_table)} ({columns}) {sql}", params)  # noqa: S608
