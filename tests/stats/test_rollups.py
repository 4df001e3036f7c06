"""The rollups kept up to date by the hooks equal a recomputation from the raw rows."""

import random
from datetime import timedelta

import pytest
from django.db import transaction

from reading.models import RejectionReason, Verdict
from stats.models import (
    DAY_CUBE,
    AgreementRollup,
    FindingFact,
    FindingRollup,
    MissFact,
    MissRollup,
    ScoreRollup,
    StudyCall,
    TurnaroundFact,
    TurnaroundRollup,
)
from stats.rollups import rebuild
from tests.ai_overlays.factories import make_model
from tests.conftest import make_user
from tests.stats.builders import add_miss, decide, make_result, make_study, remove_miss, sign

TABLES = (
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


def snapshot() -> dict[str, set]:
    """Every table's rows without surrogate ids, empty counts dropped (an undo leaves a 0 row)."""
    result = {}
    for table in TABLES:
        names = [field.attname for field in table._meta.concrete_fields if field.attname != "id"]
        rows = table.objects.values_list(*names)
        if "count" in names:
            rows = rows.exclude(count=0)
        result[table._meta.model_name] = {tuple(_rounded(value) for value in row) for row in rows}
    return result


def _rounded(value):
    return round(value, 3) if isinstance(value, float) else value


@pytest.fixture
def world(sites):
    readers = [make_user(f"reader{n}", sites=[sites["SUWON"]]) for n in range(3)]
    lung = make_model("Acme", "LungNet", "1.0", clinical_area="lung", operating_threshold=50)
    stroke = make_model("Brainy", "StrokeNet", "2.0", clinical_area="stroke", operating_threshold=70)
    return sites, readers, lung, stroke


@pytest.mark.django_db
def test_random_decisions_undo_misses_and_signing_leave_rollups_equal_to_a_rebuild(world):
    sites, readers, lung, stroke = world
    rng = random.Random(8)
    studies = []
    for _ in range(40):
        area = rng.choice(["lung", "stroke"])
        study = make_study(
            rng.choice(list(sites.values())), clinical_area=area, urgent=area == "stroke" and rng.random() < 0.5
        )
        model = lung if area == "lung" else stroke
        _, findings = make_result(
            study,
            model,
            case_score=rng.uniform(0, 100) if rng.random() < 0.9 else None,
            findings=[
                (rng.choice(["nodule", "mass"]), rng.choice([None, rng.uniform(0, 100), 100.0])) for _ in range(3)
            ],
            received_at=study.received_at + timedelta(seconds=rng.uniform(1, 600)),
        )
        studies.append((study, findings))
    for _ in range(200):
        study, findings = rng.choice(studies)
        with transaction.atomic():
            finding = rng.choice(findings)
            verdict = rng.choice([Verdict.ACCEPTED, Verdict.MODIFIED, Verdict.REJECTED, Verdict.UNDECIDED])
            reason = rng.choice(RejectionReason.values) if verdict == Verdict.REJECTED else ""
            decide(finding, rng.choice(readers), verdict, reason)
    misses = [add_miss(rng.choice(studies)[0], rng.choice(readers), rng.choice(["nodule", "bleed"])) for _ in range(15)]
    for miss in rng.sample(misses, 5):
        remove_miss(miss)
    for study, _ in rng.sample(studies, 25):
        sign(
            study,
            rng.choice(readers),
            claimed_after=timedelta(seconds=rng.uniform(0, 3000)),
            signed_after=timedelta(seconds=rng.uniform(3000, 90000)),
        )

    incremental = snapshot()
    assert incremental["findingfact"] and incremental["studycall"] and incremental["turnaroundrollup"]
    rebuild()
    rebuilt = snapshot()
    # SQLite's julianday() carries timestamps to about 0.1 ms: durations agree to that, not exactly.
    assert _durations(rebuilt.pop("turnaroundfact")) == pytest.approx(
        _durations(incremental.pop("turnaroundfact")), abs=0.01
    )
    assert rebuilt == incremental


def _durations(rows) -> list[float]:
    return [value if value is not None else -1.0 for row in sorted(rows, key=lambda row: row[0]) for value in row[6:]]


@pytest.mark.django_db
def test_an_undo_takes_the_finding_out_of_the_counts(world):
    sites, readers, lung, _ = world
    study = make_study(sites["SUWON"])
    _, (finding,) = make_result(study, lung, case_score=80, findings=[("nodule", 77.0)])
    decide(finding, readers[0], Verdict.REJECTED, RejectionReason.ARTEFACT)
    assert FindingRollup.objects.get(cube=DAY_CUBE, verdict=Verdict.REJECTED).count == 1
    decide(finding, readers[0], Verdict.UNDECIDED)
    assert not FindingFact.objects.exists()
    assert FindingRollup.objects.get(cube=DAY_CUBE, verdict=Verdict.REJECTED).count == 0


@pytest.mark.django_db
def test_signing_counts_the_study_once_however_often_the_report_is_saved_afterwards(world):
    sites, readers, lung, _ = world
    study = make_study(sites["SUWON"])
    _, (finding,) = make_result(study, lung, case_score=80, findings=[("nodule", 77.0)])
    decide(finding, readers[0], Verdict.ACCEPTED)
    report = sign(study, readers[0])
    report.refresh_from_db()
    report.pacs_delivery = "sent"
    report.save()
    row = AgreementRollup.objects.get(cube=DAY_CUBE)
    assert (row.ai_positive, row.report_positive, row.count) == (True, True, 1)
