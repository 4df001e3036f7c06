"""Keeping the statistics tables in step with the raw rows, in the same transaction as the change.

Hook: Django post_save receivers (connected in StatsConfig.ready) on reading's FindingDecision and
ReaderFinding, on Report, and on the REPORT_SIGNED audit event (signing updates the report with
.update(), which sends no signal; its audit row is written in the same transaction). Signals, not
calls from reading/, because reading/ may not import stats/ (DESIGN.md's import order).

Each hook is idempotent: it recomputes the fact of one finding, reader finding or study from the
raw rows, compares it with the stored fact and moves the rollup counts by the difference. So a
repeated or extra signal costs a query, never a wrong count; rebuild() recomputes everything.

A verdict or reader-added finding that moved a fact also nudges the open dashboards of its site,
after the commit (stats.live); signatures reach them through the worklist's own announcement."""

from django.db import connection, transaction
from django.db.models import Exists, Model, OuterRef
from django.utils import timezone

from ai_overlays.models import AIResult
from reading.models import FindingDecision, ReaderFinding, Report, ReportStatus, Verdict
from stats import live
from stats.models import (
    NO_SCORE_BIN,
    SCORE_BIN_WIDTH,
    AgreementRollup,
    FindingFact,
    FindingRollup,
    MissFact,
    MissRollup,
    ScoreRollup,
    Segment,
    StudyCall,
    TurnaroundFact,
    TurnaroundRollup,
    cube_key,
)
from stats.turnaround_buckets import bucket_of
from worklist.models import Study

POSITIVE_VERDICTS = (Verdict.ACCEPTED, Verdict.MODIFIED)
SEGMENTS = [segment.value for segment in Segment]


def score_bin(score: float | None) -> int:
    if score is None:
        return NO_SCORE_BIN
    return max(0, min(100 // SCORE_BIN_WIDTH - 1, int(score // SCORE_BIN_WIDTH)))


# ---- incremental: one entity at a time ---------------------------------------------------------


@transaction.atomic
def sync_finding(finding_id: int) -> set[int]:
    """Returns the sites whose figures moved (none when the fact was already right)."""
    latest = (
        FindingDecision.objects.filter(finding_id=finding_id)
        .select_related("finding__result__ai_model", "study")
        .order_by("-revision")
        .first()
    )
    desired = None
    if latest is not None and latest.verdict != Verdict.UNDECIDED:
        finding = latest.finding
        desired = FindingFact(
            finding_id=finding_id,
            study_id=latest.study_id,
            day=timezone.localdate(latest.study.received_at),
            ai_model_id=finding.result.ai_model_id,
            site_id=latest.study.site_id,
            clinical_area=finding.result.ai_model.clinical_area,
            finding_type=finding.finding_type,
            reader_id=latest.decided_by_id,
            verdict=latest.verdict,
            reason=latest.reason if latest.verdict == Verdict.REJECTED else "",
            score_bin=score_bin(finding.score),
        )
    stored = FindingFact.objects.select_for_update().filter(pk=finding_id).first()
    return _replace(stored, desired, (FindingRollup, ScoreRollup))


@transaction.atomic
def sync_miss(reader_finding_id: int) -> set[int]:
    """Returns the sites whose figures moved (none when the fact was already right)."""
    added = ReaderFinding.objects.select_related("study").filter(pk=reader_finding_id).first()
    desired = None
    if added is not None and added.removed_at is None:
        desired = MissFact(
            reader_finding_id=added.pk,
            study_id=added.study_id,
            day=timezone.localdate(added.study.received_at),
            site_id=added.study.site_id,
            clinical_area=added.study.clinical_area,
            finding_type=added.finding_type,
            reader_id=added.created_by_id,
        )
    stored = MissFact.objects.select_for_update().filter(pk=reader_finding_id).first()
    return _replace(stored, desired, (MissRollup,))


@transaction.atomic
def sync_study(study_id: int) -> None:
    """The study-level facts of a study: present once its report is signed."""
    study = Study.objects.filter(pk=study_id).first()
    report = Report.objects.filter(study_id=study_id, status=ReportStatus.SIGNED).first()
    desired_calls: dict[int, StudyCall] = {}
    desired_times = None
    if study is not None and report is not None:
        desired_calls = {call.ai_model_id: call for call in _calls(study, report)}
        desired_times = _times(study, report)
    stored_calls = {call.ai_model_id: call for call in StudyCall.objects.select_for_update().filter(study_id=study_id)}
    for model_id in stored_calls.keys() | desired_calls.keys():
        _replace(stored_calls.get(model_id), desired_calls.get(model_id), (AgreementRollup,))
    stored_times = TurnaroundFact.objects.select_for_update().filter(pk=study_id).first()
    _replace(stored_times, desired_times, (TurnaroundRollup,))


def _calls(study: Study, report: Report) -> list[StudyCall]:
    latest_by_model: dict[int, AIResult] = {}
    for result in AIResult.objects.filter(study=study).select_related("ai_model").order_by("received_at", "id"):
        latest_by_model[result.ai_model_id] = result
    positive_areas = set(
        FindingDecision.objects.filter(study=study)
        .filter(
            ~Exists(
                FindingDecision.objects.filter(finding_id=OuterRef("finding_id"), revision__gt=OuterRef("revision"))
            )
        )
        .filter(verdict__in=POSITIVE_VERDICTS)
        .values_list("finding__result__ai_model__clinical_area", flat=True)
    )
    reader_added = ReaderFinding.objects.filter(study=study, removed_at__isnull=True).exists()
    return [
        StudyCall(
            study_id=study.pk,
            ai_model_id=model_id,
            day=timezone.localdate(study.received_at),
            site_id=study.site_id,
            clinical_area=result.ai_model.clinical_area,
            reader_id=report.signed_by_id,
            ai_positive=result.case_score >= result.ai_model.operating_threshold,
            report_positive=reader_added or result.ai_model.clinical_area in positive_areas,
        )
        for model_id, result in latest_by_model.items()
        if result.case_score is not None
    ]


def _times(study: Study, report: Report) -> TurnaroundFact:
    first_result = AIResult.objects.filter(study=study).order_by("received_at").values_list("received_at", flat=True)
    first_ai = first_result.first()
    claimed = study.claimed_at
    signed = report.signed_at

    def seconds(start, end) -> float | None:
        if start is None or end is None or end < start:
            return None
        return (end - start).total_seconds()

    return TurnaroundFact(
        study_id=study.pk,
        day=timezone.localdate(study.received_at),
        site_id=study.site_id,
        clinical_area=study.clinical_area,
        reader_id=report.signed_by_id,
        urgent=study.ai_urgent,
        arrival_ai=seconds(study.received_at, first_ai),
        ai_claim=seconds(first_ai, claimed),
        claim_sign=seconds(claimed, signed),
        arrival_sign=seconds(study.received_at, signed),
    )


def _fact_values(fact: Model) -> dict:
    return {
        field.attname: getattr(fact, field.attname) for field in fact._meta.concrete_fields if field.attname != "id"
    }


def _replace(stored: Model | None, desired: Model | None, rollups: tuple[type[Model], ...]) -> set[int]:
    """Swap the stored fact for the desired one in the rollups; returns the sites of the facts moved."""
    if stored is not None and desired is not None and _fact_values(stored) == _fact_values(desired):
        return set()
    if stored is not None:
        for rollup in rollups:
            for key in _cube_keys(rollup, stored):
                _bump(rollup, key, -1)
        stored.delete()
    if desired is not None:
        desired.save(force_insert=True)
        for rollup in rollups:
            for key in _cube_keys(rollup, desired):
                _bump(rollup, key, +1)
    return {fact.site_id for fact in (stored, desired) if fact is not None}


def _cube_keys(rollup: type[Model], fact: Model) -> list[dict]:
    """The fact's row key in every cube of the rollup (stats.models' cubes)."""
    return [cube_key(rollup, cube, key) for key in _rollup_keys(rollup, fact) for cube in rollup.CUBES]


def _rollup_keys(rollup: type[Model], fact: Model) -> list[dict]:
    if rollup is TurnaroundRollup:
        common = {name: getattr(fact, name) for name in ("day", "site_id", "clinical_area", "reader_id", "urgent")}
        return [
            {**common, "segment": segment, "bucket": bucket_of(getattr(fact, segment))}
            for segment in SEGMENTS
            if getattr(fact, segment) is not None
        ]
    return [{name: getattr(fact, name) for name in rollup.DIMENSIONS}]


def _bump(rollup: type[Model], key: dict, delta: int) -> None:
    """Add delta to one rollup row, creating it; an upsert, so concurrent writers never lose a count."""
    table = connection.ops.quote_name(rollup._meta.db_table)
    names = ["cube", *rollup.DIMENSIONS]
    columns = [rollup._meta.get_field(name).column for name in names]
    quoted = ", ".join(connection.ops.quote_name(column) for column in columns)
    count = connection.ops.quote_name("count")
    placeholders = ", ".join(["%s"] * (len(columns) + 1))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({quoted}, {count}) VALUES ({placeholders}) "  # noqa: S608 (names from models)
            f"ON CONFLICT ({quoted}) DO UPDATE SET {count} = {table}.{count} + EXCLUDED.{count}",
            [*(key[name] for name in names), delta],
        )


# ---- the hooks ----------------------------------------------------------------------------------


def on_decision_saved(sender, instance: FindingDecision, **kwargs) -> None:
    for site_id in sync_finding(instance.finding_id):
        live.announce_agreement_change(site_id=site_id, kind="decision")


def on_reader_finding_saved(sender, instance: ReaderFinding, **kwargs) -> None:
    for site_id in sync_miss(instance.pk):
        live.announce_agreement_change(site_id=site_id, kind="reader_finding")


def on_report_saved(sender, instance: Report, **kwargs) -> None:
    sync_study(instance.study_id)


def on_audit_event_saved(sender, instance, created: bool = False, **kwargs) -> None:
    from accounts.models import AuditAction

    if created and instance.action == AuditAction.REPORT_SIGNED and instance.study_uid:
        study_id = Study.objects.filter(study_instance_uid=instance.study_uid).values_list("pk", flat=True).first()
        if study_id is not None:
            sync_study(study_id)


def connect() -> None:
    from django.db.models.signals import post_save

    from accounts.models import AuditEvent

    post_save.connect(on_decision_saved, sender=FindingDecision, dispatch_uid="stats_decision")
    post_save.connect(on_reader_finding_saved, sender=ReaderFinding, dispatch_uid="stats_reader_finding")
    post_save.connect(on_report_saved, sender=Report, dispatch_uid="stats_report")
    post_save.connect(on_audit_event_saved, sender=AuditEvent, dispatch_uid="stats_report_signed")


# ---- rebuild: everything from the raw rows, set-based (INSERT ... SELECT) ----------------------


@transaction.atomic
def rebuild() -> dict[str, int]:
    """Recompute every fact and rollup; returns the row count of each table."""
    from stats import rebuild_sql

    for model in (FindingRollup, ScoreRollup, MissRollup, AgreementRollup, TurnaroundRollup):
        model.objects.all().delete()
    for model in (FindingFact, MissFact, StudyCall, TurnaroundFact):
        model.objects.all().delete()
    rebuild_sql.fill_facts()
    rebuild_sql.fill_rollups()
    return {
        model._meta.model_name: model.objects.count()
        for model in (
            FindingFact,
            FindingRollup,
            ScoreRollup,
            MissFact,
            MissRollup,
            StudyCall,
            AgreementRollup,
            TurnaroundFact,
            TurnaroundRollup,
        )
    }
