"""Derived tables that make the agreement statistics fast: one fact row per thing counted (kept in
step with the raw rows of reading/ and ai_overlays/), and rollups that count facts per day and
dimension. Nothing here is a source of truth: `manage.py rebuild_stats` recomputes all of it.

Dimensions are plain integers, not foreign keys: a rollup outlives nothing and joins nothing. The
day is the study's arrival date in the local time zone (Asia/Seoul), for every figure, so one date
range selects the same studies everywhere and a drill-down finds the studies behind a number."""

from django.db import models

# Scores 0-100 in bins of 10 (100 falls in the last bin); -1 holds findings without a score.
SCORE_BIN_WIDTH = 10
NO_SCORE_BIN = -1


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
        indexes = [models.Index(fields=["verdict", "day", "study_id"], name="stats_finding_fact_drill")]


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

    class Meta:
        constraints = [models.UniqueConstraint(fields=FINDING_DIMENSIONS, name="stats_finding_rollup_key")]


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

    class Meta:
        constraints = [models.UniqueConstraint(fields=SCORE_DIMENSIONS, name="stats_score_rollup_key")]


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
    day = models.DateField()
    site_id = models.IntegerField()
    clinical_area = models.CharField(max_length=16)
    finding_type = models.CharField(max_length=40)
    reader_id = models.IntegerField()
    count = models.IntegerField(default=0)

    DIMENSIONS = MISS_DIMENSIONS

    class Meta:
        constraints = [models.UniqueConstraint(fields=MISS_DIMENSIONS, name="stats_miss_rollup_key")]


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
    day = models.DateField()
    ai_model_id = models.IntegerField()
    site_id = models.IntegerField()
    clinical_area = models.CharField(max_length=16)
    reader_id = models.IntegerField()
    ai_positive = models.BooleanField()
    report_positive = models.BooleanField()
    count = models.IntegerField(default=0)

    DIMENSIONS = AGREEMENT_DIMENSIONS

    class Meta:
        constraints = [models.UniqueConstraint(fields=AGREEMENT_DIMENSIONS, name="stats_agreement_rollup_key")]


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

    day = models.DateField()
    site_id = models.IntegerField()
    clinical_area = models.CharField(max_length=16)
    reader_id = models.IntegerField()
    urgent = models.BooleanField()
    segment = models.CharField(max_length=16, choices=Segment.choices)
    bucket = models.SmallIntegerField()
    count = models.IntegerField(default=0)

    DIMENSIONS = TURNAROUND_DIMENSIONS

    class Meta:
        constraints = [models.UniqueConstraint(fields=TURNAROUND_DIMENSIONS, name="stats_turnaround_rollup_key")]
