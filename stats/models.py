"""Derived tables that make the agreement statistics fast: one fact row per thing counted (kept in
step with the raw rows of reading/ and ai_overlays/), and rollups that count facts per day and
dimension. Nothing here is a source of truth: `manage.py rebuild_stats` recomputes all of it.

Dimensions are plain integers, not foreign keys: a rollup outlives nothing and joins nothing. The
day is the study's arrival date in the local time zone (Asia/Seoul), for every figure, so one date
range selects the same studies everywhere and a drill-down finds the studies behind a number."""

from dataclasses import dataclass
from datetime import date, timedelta

from django.db import models

# Scores 0-100 in bins of 10 (100 falls in the last bin); -1 holds findings without a score.
SCORE_BIN_WIDTH = 10
NO_SCORE_BIN = -1


# ---- rollup cubes ---------------------------------------------------------------------------------
# Each rollup table holds several "cubes" (column `cube`), each counting the same facts at one time
# grain and over a subset of the dimensions; a dimension a cube drops holds its SENTINEL. The query
# layer (stats.queries) reads the smallest cube that has every dimension the view filters or groups
# by, so the default view sums a few hundred rows instead of a million.
#   - DAY: the arrival day, every dimension (cube 0). Reads only the edges of a date range.
#   - PART: the part of an ISO week inside one calendar month (starts on a Monday or on the 1st),
#     so a part lies in exactly one week and one month: week and month series, and whole parts of a
#     date range, come from the same rows. `day` holds the part's first day.
#   - ALL: no date at all (`day` holds ALL_TIME): views without a date range or series.
DAY, PART, ALL = "day", "part", "all"
DAY_CUBE = 0
ALL_TIME = date(1970, 1, 1)


@dataclass(frozen=True)
class Cube:
    code: int
    grain: str
    dims: frozenset[str]  # the dimensions kept (besides day)


def cubes(*specs: tuple[int, str, tuple[str, ...]]) -> tuple[Cube, ...]:
    return tuple(Cube(code, grain, frozenset(dims)) for code, grain, dims in specs)


def part_start(day: date) -> date:
    return max(day - timedelta(days=day.weekday()), day.replace(day=1))


def next_part_start(day: date) -> date:
    monday = day + timedelta(days=7 - day.weekday())
    first = (day.replace(day=1) + timedelta(days=32)).replace(day=1)
    return min(monday, first)


def cube_key(rollup: type[models.Model], cube: Cube, key: dict) -> dict:
    """The key of one fact's row in one cube, from its day-grain key."""
    result = {"cube": cube.code}
    for name in rollup.DIMENSIONS:
        if name == "day":
            value = key["day"]
            result["day"] = value if cube.grain == DAY else part_start(value) if cube.grain == PART else ALL_TIME
        else:
            result[name] = key[name] if name in cube.dims else sentinel(rollup, name)
    return result


def sentinel(rollup: type[models.Model], name: str):
    return "" if isinstance(rollup._meta.get_field(name), models.CharField) else 0


class StatsRow(models.Model):
    class Meta:
        abstract = True

    def __str__(self) -> str:
        fields = self._meta.concrete_fields
        return " ".join(str(getattr(self, field.attname)) for field in fields if field.attname != "id")


class Segment(models.TextChoices):
    ARRIVAL_TO_AI = "arrival_ai", "arrival -> AI result"
    AI_TO_CLAIM = "ai_claim", "AI result -> claim"
    CLAIM_TO_SIGN = "claim_sign", "claim -> signature"
    ARRIVAL_TO_SIGN = "arrival_sign", "arrival -> signature"


class FindingFact(StatsRow):
    """The current verdict on one AI finding (accepted, modified or rejected); undecided has no row."""

    finding_id = models.BigIntegerField(primary_key=True)
    study_id = models.BigIntegerField()
    day = models.DateField()
    ai_model_id = models.IntegerField()
    site_id = models.IntegerField()
    clinical_area = models.CharField(max_length=16)
    finding_type = models.CharField(max_length=40)
    reader_id = models.IntegerField()
    verdict = models.CharField(max_length=16)
    reason = models.CharField(max_length=24, blank=True)
    score_bin = models.SmallIntegerField()

    class Meta:
        indexes = [
            models.Index(fields=["verdict", "day", "study_id"], name="stats_finding_fact_drill"),
            # The drill-down's newest studies first: walked backwards, filtered inside the index.
            models.Index(
                fields=["verdict", "study_id"],
                include=["day", "ai_model_id", "site_id", "clinical_area", "finding_type", "reader_id", "reason"],
                name="stats_finding_fact_newest",
            ),
        ]


FINDING_DIMENSIONS = (
    "day",
    "ai_model_id",
    "site_id",
    "clinical_area",
    "finding_type",
    "reader_id",
    "verdict",
    "reason",
)


class FindingRollup(StatsRow):
    cube = models.SmallIntegerField(default=DAY_CUBE)
    day = models.DateField()
    ai_model_id = models.IntegerField()
    site_id = models.IntegerField()
    clinical_area = models.CharField(max_length=16)
    finding_type = models.CharField(max_length=40)
    reader_id = models.IntegerField()
    verdict = models.CharField(max_length=16)
    reason = models.CharField(max_length=24, blank=True)
    count = models.IntegerField(default=0)

    DIMENSIONS = FINDING_DIMENSIONS
    CUBES = cubes(
        (DAY_CUBE, DAY, FINDING_DIMENSIONS[1:]),
        (1, ALL, FINDING_DIMENSIONS[1:]),
        (5, PART, ("ai_model_id", "clinical_area", "verdict")),  # the acceptance series of each model
        (2, PART, ("ai_model_id", "clinical_area", "site_id", "verdict", "reason")),
        (3, PART, ("ai_model_id", "clinical_area", "finding_type", "verdict", "reason")),
        (4, PART, ("ai_model_id", "clinical_area", "reader_id", "verdict", "reason")),
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=("cube", *FINDING_DIMENSIONS), name="stats_finding_rollup_key")]
        # The acceptance series runs once per model: seek the model (and reader) inside a cube.
        indexes = [models.Index(fields=["cube", "ai_model_id", "reader_id"], name="stats_finding_rollup_model")]


SCORE_DIMENSIONS = (
    "day",
    "ai_model_id",
    "site_id",
    "clinical_area",
    "finding_type",
    "reader_id",
    "verdict",
    "score_bin",
)


class ScoreRollup(StatsRow):
    cube = models.SmallIntegerField(default=DAY_CUBE)
    day = models.DateField()
    ai_model_id = models.IntegerField()
    site_id = models.IntegerField()
    clinical_area = models.CharField(max_length=16)
    finding_type = models.CharField(max_length=40)
    reader_id = models.IntegerField()
    verdict = models.CharField(max_length=16)
    score_bin = models.SmallIntegerField()
    count = models.IntegerField(default=0)

    DIMENSIONS = SCORE_DIMENSIONS
    CUBES = cubes(
        (DAY_CUBE, DAY, SCORE_DIMENSIONS[1:]),
        (1, ALL, ("ai_model_id", "clinical_area", "finding_type", "verdict", "score_bin")),
        (2, ALL, SCORE_DIMENSIONS[1:]),
        (3, PART, ("ai_model_id", "clinical_area", "finding_type", "verdict", "score_bin")),
        (4, PART, ("ai_model_id", "clinical_area", "site_id", "verdict", "score_bin")),
        (5, PART, ("ai_model_id", "clinical_area", "reader_id", "verdict", "score_bin")),
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=("cube", *SCORE_DIMENSIONS), name="stats_score_rollup_key")]


class MissFact(StatsRow):
    """A finding the reader added (an AI miss) and has not removed. Misses belong to the study, not
    to one model: a model filter selects them by the model's clinical area."""

    reader_finding_id = models.BigIntegerField(primary_key=True)
    study_id = models.BigIntegerField()
    day = models.DateField()
    site_id = models.IntegerField()
    clinical_area = models.CharField(max_length=16)
    finding_type = models.CharField(max_length=40)
    reader_id = models.IntegerField()

    class Meta:
        indexes = [models.Index(fields=["day", "study_id"], name="stats_miss_fact_drill")]


MISS_DIMENSIONS = ("day", "site_id", "clinical_area", "finding_type", "reader_id")


class MissRollup(StatsRow):
    cube = models.SmallIntegerField(default=DAY_CUBE)
    day = models.DateField()
    site_id = models.IntegerField()
    clinical_area = models.CharField(max_length=16)
    finding_type = models.CharField(max_length=40)
    reader_id = models.IntegerField()
    count = models.IntegerField(default=0)

    DIMENSIONS = MISS_DIMENSIONS
    CUBES = cubes(
        (DAY_CUBE, DAY, MISS_DIMENSIONS[1:]),
        (1, ALL, MISS_DIMENSIONS[1:]),
        (2, PART, ("clinical_area", "finding_type")),
        (3, PART, ("clinical_area", "site_id")),
        (4, PART, ("clinical_area", "reader_id")),
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=("cube", *MISS_DIMENSIONS), name="stats_miss_rollup_key")]


class StudyCall(StatsRow):
    """One model's call on one signed study against the signed report (see stats.rollups for the
    definition of a positive report)."""

    study_id = models.BigIntegerField()
    ai_model_id = models.IntegerField()
    day = models.DateField()
    site_id = models.IntegerField()
    clinical_area = models.CharField(max_length=16)
    reader_id = models.IntegerField()
    ai_positive = models.BooleanField()
    report_positive = models.BooleanField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["study_id", "ai_model_id"], name="stats_study_call_once")]
        indexes = [models.Index(fields=["ai_model_id", "day", "study_id"], name="stats_study_call_drill")]


AGREEMENT_DIMENSIONS = ("day", "ai_model_id", "site_id", "clinical_area", "reader_id", "ai_positive", "report_positive")


class AgreementRollup(StatsRow):
    cube = models.SmallIntegerField(default=DAY_CUBE)
    day = models.DateField()
    ai_model_id = models.IntegerField()
    site_id = models.IntegerField()
    clinical_area = models.CharField(max_length=16)
    reader_id = models.IntegerField()
    ai_positive = models.BooleanField()
    report_positive = models.BooleanField()
    count = models.IntegerField(default=0)

    DIMENSIONS = AGREEMENT_DIMENSIONS
    CUBES = cubes(
        (DAY_CUBE, DAY, AGREEMENT_DIMENSIONS[1:]),
        (1, ALL, AGREEMENT_DIMENSIONS[1:]),
        (2, PART, ("ai_model_id", "clinical_area", "ai_positive", "report_positive")),
        (3, PART, ("ai_model_id", "clinical_area", "site_id", "ai_positive", "report_positive")),
        (4, PART, ("ai_model_id", "clinical_area", "reader_id", "ai_positive", "report_positive")),
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=("cube", *AGREEMENT_DIMENSIONS), name="stats_agreement_rollup_key")
        ]


class TurnaroundFact(StatsRow):
    """The times of one signed study, in seconds; None where a step did not happen (no AI result)."""

    study_id = models.BigIntegerField(primary_key=True)
    day = models.DateField()
    site_id = models.IntegerField()
    clinical_area = models.CharField(max_length=16)
    reader_id = models.IntegerField()
    urgent = models.BooleanField()
    arrival_ai = models.FloatField(null=True)
    ai_claim = models.FloatField(null=True)
    claim_sign = models.FloatField(null=True)
    arrival_sign = models.FloatField(null=True)

    class Meta:
        indexes = [models.Index(fields=["urgent", "day", "study_id"], name="stats_turnaround_fact_drill")]


TURNAROUND_DIMENSIONS = ("day", "site_id", "clinical_area", "reader_id", "urgent", "segment", "bucket")


class TurnaroundRollup(StatsRow):
    """Durations counted in logarithmic buckets (stats.turnaround_buckets), so medians and 90th
    percentiles come from a few hundred rows instead of every study."""

    cube = models.SmallIntegerField(default=DAY_CUBE)
    day = models.DateField()
    site_id = models.IntegerField()
    clinical_area = models.CharField(max_length=16)
    reader_id = models.IntegerField()
    urgent = models.BooleanField()
    segment = models.CharField(max_length=16, choices=Segment.choices)
    bucket = models.SmallIntegerField()
    count = models.IntegerField(default=0)

    DIMENSIONS = TURNAROUND_DIMENSIONS
    CUBES = cubes(
        (DAY_CUBE, DAY, TURNAROUND_DIMENSIONS[1:]),
        (1, ALL, ("clinical_area", "urgent", "segment", "bucket")),
        (2, ALL, TURNAROUND_DIMENSIONS[1:]),
        (3, PART, ("clinical_area", "urgent", "segment", "bucket")),
        (4, PART, ("clinical_area", "site_id", "urgent", "segment", "bucket")),
        (5, PART, ("clinical_area", "reader_id", "urgent", "segment", "bucket")),
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=("cube", *TURNAROUND_DIMENSIONS), name="stats_turnaround_rollup_key")
        ]
