"""Every figure against values computed independently: statsmodels and scikit-learn, or by hand."""

from datetime import timedelta

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import cohens_kappa as statsmodels_kappa
from statsmodels.stats.proportion import proportion_confint

from reading.models import RejectionReason, Verdict
from stats import estimates, queries
from stats.drift import drift_warnings
from stats.estimates import TwoByTwo
from stats.filters import StatsFilter
from stats.turnaround_buckets import BASE, bucket_of, quantile
from tests.ai_overlays.factories import make_model
from tests.conftest import make_user
from tests.stats.builders import add_miss, decide, make_result, make_study, sign

TABLES = [
    TwoByTwo(40, 10, 5, 45),
    TwoByTwo(3, 1, 2, 30),
    TwoByTwo(50, 0, 0, 50),  # all agree
    TwoByTwo(0, 20, 0, 20),  # the report never positive: one-sided
    TwoByTwo(12, 7, 9, 2),  # worse than chance
]


@pytest.mark.parametrize("table", TABLES)
def test_kappa_and_its_interval_equal_statsmodels(table):
    ours = estimates.cohens_kappa(table, minimum=1)
    theirs = statsmodels_kappa(
        np.array([[table.true_positive, table.false_positive], [table.false_negative, table.true_negative]])
    )
    assert ours.value == pytest.approx(theirs.kappa)
    assert ours.low == pytest.approx(max(-1, theirs.kappa_low))
    assert ours.high == pytest.approx(min(1, theirs.kappa_upp))


@pytest.mark.parametrize("table", TABLES[:2] + TABLES[4:])
def test_kappa_equals_scikit_learn_on_the_cases_behind_the_table(table):
    ai = [1] * table.true_positive + [1] * table.false_positive + [0] * table.false_negative + [0] * table.true_negative
    report = (
        [1] * table.true_positive + [0] * table.false_positive + [1] * table.false_negative + [0] * table.true_negative
    )
    assert estimates.cohens_kappa(table, minimum=1).value == pytest.approx(cohen_kappa_score(ai, report))


def test_all_agree_kappa_is_one_with_no_width():
    kappa = estimates.cohens_kappa(TwoByTwo(50, 0, 0, 50))
    assert (kappa.value, kappa.low, kappa.high) == (pytest.approx(1.0), pytest.approx(1.0), pytest.approx(1.0))


def test_a_single_category_gives_no_kappa_and_says_why():
    kappa = estimates.cohens_kappa(TwoByTwo(0, 0, 0, 30))
    assert kappa.value is None and "one category" in kappa.reason


def test_an_empty_table_is_too_few_cases_everywhere():
    empty = TwoByTwo()
    for figure in (
        estimates.sensitivity,
        estimates.specificity,
        estimates.positive_predictive_value,
        estimates.cohens_kappa,
    ):
        result = figure(empty)
        assert result.value is None and "Too few cases" in result.reason


@pytest.mark.parametrize(("successes", "trials"), [(0, 10), (10, 10), (7, 12), (40, 45), (123, 1000)])
def test_proportions_carry_the_wilson_interval_of_statsmodels(successes, trials):
    ours = estimates.proportion(successes, trials)
    low, high = proportion_confint(successes, trials, alpha=0.05, method="wilson")
    assert (ours.value, ours.low, ours.high) == (
        pytest.approx(successes / trials),
        pytest.approx(low),
        pytest.approx(high),
    )


def test_by_hand_two_by_two_figures():
    table = TwoByTwo(40, 10, 5, 45)
    assert estimates.sensitivity(table).value == pytest.approx(40 / 45)
    assert estimates.specificity(table).value == pytest.approx(45 / 55)
    assert estimates.positive_predictive_value(table).value == pytest.approx(40 / 50)
    assert estimates.negative_predictive_value(table).value == pytest.approx(45 / 50)
    one_sided = TwoByTwo(0, 20, 0, 20)
    assert estimates.sensitivity(one_sided).value is None  # nobody positive on the report
    assert estimates.specificity(one_sided).value == pytest.approx(0.5)


def test_turnaround_quantiles_fall_in_the_bucket_of_the_exact_value():
    rng = np.random.default_rng(8)
    durations = rng.lognormal(mean=7, sigma=1.2, size=5000)
    counts: dict[int, int] = {}
    for seconds in durations:
        counts[bucket_of(seconds)] = counts.get(bucket_of(seconds), 0) + 1
    for q in (0.5, 0.9):
        exact = float(np.quantile(durations, q))
        assert quantile(counts, q) == pytest.approx(exact, rel=BASE - 1)


@pytest.fixture
def signed_world(sites):
    """12 signed lung studies with a known 2x2 (tp 5, fp 2, fn 1, tn 4) and their verdicts."""
    head = make_user("head", role="department_head", all_sites=True)
    reader = make_user("reader", sites=[sites["SUWON"]])
    model = make_model("Acme", "LungNet", "1.0", clinical_area="lung", operating_threshold=50)
    cells = [(90, True)] * 5 + [(70, False)] * 2 + [(10, True)] * 1 + [(20, False)] * 4
    studies = []
    for score, positive in cells:
        study = make_study(sites["SUWON"])
        _, (finding,) = make_result(study, model, case_score=score, findings=[("nodule", score)])
        if positive:
            decide(finding, reader, Verdict.ACCEPTED)
        else:
            decide(finding, reader, Verdict.REJECTED, RejectionReason.ARTEFACT)
        studies.append(study)
    add_miss(studies[-1], reader)
    Study = type(studies[0])
    for study in studies:
        sign(Study.objects.get(pk=study.pk), reader, signed_after=timedelta(minutes=30))
    return head, reader, model, studies


@pytest.mark.django_db
def test_study_agreement_counts_the_calls_against_the_signed_reports(signed_world, settings):
    _, _, model, _ = signed_world
    (row,) = queries.study_agreement(StatsFilter())
    assert row.sensitivity.value is None and "Too few cases" in row.sensitivity.reason  # 7 < 10
    settings.STATS_MIN_CASES = 5
    (row,) = queries.study_agreement(StatsFilter())
    # The added finding makes the last true negative a false negative of the report.
    assert row.table == TwoByTwo(true_positive=5, false_positive=2, false_negative=2, true_negative=3)
    assert row.sensitivity.value == pytest.approx(5 / 7)
    assert row.kappa.value == pytest.approx(cohen_kappa_score([1] * 7 + [0] * 5, [1] * 5 + [0] * 2 + [1] * 2 + [0] * 3))


@pytest.mark.django_db
def test_verdicts_misses_reasons_and_the_drill_down_agree(signed_world):
    _, reader, model, studies = signed_world
    summary = queries.verdict_summary(StatsFilter())
    assert (summary.accepted, summary.rejected, summary.misses) == (6, 6, 1)
    assert summary.accepted_rate.value == pytest.approx(0.5)
    reasons = {row.reason: row.count for row in queries.rejection_reasons(StatsFilter())}
    assert reasons[RejectionReason.ARTEFACT] == 6
    rejected = queries.drill_down(StatsFilter(), metric="verdict", value="rejected")
    assert rejected.count() == 6
    page = queries.study_page(rejected, limit=4)
    assert len(page.studies) == 4 and page.next_after is not None
    assert len(queries.study_page(rejected, after=page.next_after, limit=4).studies) == 2
    cell = queries.drill_down(StatsFilter(), metric="agreement", value="fn", model_id=model.pk)
    assert cell.count() == 2


@pytest.mark.django_db
def test_filters_narrow_every_figure_and_round_trip_through_the_url(signed_world):
    _, reader, model, _ = signed_world
    stats_filter = StatsFilter.from_query({"model": [str(model.pk)], "reader": str(reader.pk), "by": "month"})
    assert StatsFilter.from_query(dict(_pairs(stats_filter.to_query()))) == stats_filter
    assert queries.verdict_summary(stats_filter).decided == 12
    assert queries.verdict_summary(StatsFilter(reader_id=reader.pk + 999)).decided == 0
    assert queries.verdict_summary(StatsFilter(finding_type="mass")).decided == 0
    (period,) = queries.verdict_series(stats_filter)
    assert period.accepted == 6
    urgent_rows = [row for row in queries.turnaround(StatsFilter()) if row.segment == "arrival_sign" and not row.urgent]
    assert urgent_rows[0].count == 12 and urgent_rows[0].median_seconds == pytest.approx(1800, rel=BASE - 1)


@pytest.mark.django_db
def test_a_version_that_agrees_less_than_the_floor_is_warned_about(signed_world, settings):
    settings.STATS_AGREEMENT_FLOOR = 0.95
    (warning,) = drift_warnings()
    assert "floor" in warning.message
    settings.STATS_AGREEMENT_FLOOR = 0.0
    assert drift_warnings() == []


def _pairs(query: str):
    from django.http import QueryDict

    parsed = QueryDict(query)
    return [(key, parsed.getlist(key) if key == "model" else parsed[key]) for key in parsed]
