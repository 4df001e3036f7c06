"""The figures with their 95% confidence intervals: a proportion with the Wilson score interval,
Cohen's kappa with the large-sample standard error of Fleiss, Cohen and Everitt (1969), the one
statsmodels' cohens_kappa reports. A figure on too few cases is None with the reason instead."""

import math
from dataclasses import dataclass

from django.conf import settings
from django.utils.translation import gettext as _

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Estimate:
    value: float | None
    low: float | None
    high: float | None
    # The counts behind the figure: successes of trials for a proportion, agreements of cases for kappa.
    numerator: int
    denominator: int
    # Why value is None ("" when there is a value).
    reason: str = ""

    @property
    def known(self) -> bool:
        return self.value is not None


@dataclass(frozen=True)
class TwoByTwo:
    """AI call (rows) against the signed report (columns)."""

    true_positive: int = 0
    false_positive: int = 0
    false_negative: int = 0
    true_negative: int = 0

    @property
    def total(self) -> int:
        return self.true_positive + self.false_positive + self.false_negative + self.true_negative


def minimum_cases() -> int:
    return settings.STATS_MIN_CASES


def too_few(numerator: int, denominator: int, minimum: int) -> Estimate:
    reason = _("Too few cases: %(n)d, at least %(minimum)d needed.") % {"n": denominator, "minimum": minimum}
    return Estimate(None, None, None, numerator, denominator, reason)


def proportion(successes: int, trials: int, *, minimum: int | None = None) -> Estimate:
    """successes / trials with the Wilson score interval (Wilson 1927)."""
    minimum = minimum_cases() if minimum is None else minimum
    if trials <= 0 or trials < minimum:
        return too_few(successes, trials, minimum)
    share = successes / trials
    z2 = Z95 * Z95
    centre = (share + z2 / (2 * trials)) / (1 + z2 / trials)
    half = Z95 * math.sqrt(share * (1 - share) / trials + z2 / (4 * trials * trials)) / (1 + z2 / trials)
    return Estimate(share, max(0.0, centre - half), min(1.0, centre + half), successes, trials)


def cohens_kappa(table: TwoByTwo, *, minimum: int | None = None) -> Estimate:
    """Kappa of the AI's call against the report, with kappa +- 1.96 SE (Fleiss, Cohen, Everitt 1969)."""
    minimum = minimum_cases() if minimum is None else minimum
    n = table.total
    agreements = table.true_positive + table.true_negative
    if n <= 0 or n < minimum:
        return too_few(agreements, n, minimum)
    cells = [[table.true_positive, table.false_positive], [table.false_negative, table.true_negative]]
    p = [[cell / n for cell in row] for row in cells]
    rows = [p[0][0] + p[0][1], p[1][0] + p[1][1]]
    columns = [p[0][0] + p[1][0], p[0][1] + p[1][1]]
    observed = p[0][0] + p[1][1]
    expected = rows[0] * columns[0] + rows[1] * columns[1]
    if expected >= 1.0 - 1e-12:
        # Both raters used one and the same category on every case: agreement by chance is total.
        return Estimate(None, None, None, agreements, n, _("Only one category on every case: kappa is undefined."))
    kappa = (observed - expected) / (1 - expected)
    diagonal = sum(p[i][i] * (1 - (rows[i] + columns[i]) * (1 - kappa)) ** 2 for i in range(2))
    off_diagonal = (1 - kappa) ** 2 * sum(
        p[i][j] * (columns[i] + rows[j]) ** 2 for i in range(2) for j in range(2) if i != j
    )
    correction = (kappa - expected * (1 - kappa)) ** 2
    variance = max(0.0, (diagonal + off_diagonal - correction) / ((1 - expected) ** 2 * n))
    half = Z95 * math.sqrt(variance)
    return Estimate(kappa, max(-1.0, kappa - half), min(1.0, kappa + half), agreements, n)


def sensitivity(table: TwoByTwo, **kwargs) -> Estimate:
    return proportion(table.true_positive, table.true_positive + table.false_negative, **kwargs)


def specificity(table: TwoByTwo, **kwargs) -> Estimate:
    return proportion(table.true_negative, table.true_negative + table.false_positive, **kwargs)


def positive_predictive_value(table: TwoByTwo, **kwargs) -> Estimate:
    return proportion(table.true_positive, table.true_positive + table.false_positive, **kwargs)


def negative_predictive_value(table: TwoByTwo, **kwargs) -> Estimate:
    return proportion(table.true_negative, table.true_negative + table.false_negative, **kwargs)
