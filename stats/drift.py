"""The drift warning: a model version whose agreement with the radiologists (Cohen's kappa of its
study-level call against the signed report) fell below its earlier versions' by more than the
confidence intervals (its upper bound under their pooled lower bound), or below the floor
settings.STATS_AGREEMENT_FLOOR (default 0.4). Versions with too few cases give no warning."""

from dataclasses import dataclass, replace

from django.conf import settings
from django.utils.translation import gettext as _

from stats.estimates import Estimate, TwoByTwo, cohens_kappa
from stats.filters import StatsFilter
from stats.queries import ModelAgreement, study_agreement


@dataclass(frozen=True)
class DriftWarning:
    model_id: int
    model: str
    kappa: Estimate
    earlier: Estimate | None  # the earlier versions pooled, when that is the comparison that failed
    message: str


def agreement_floor() -> float:
    return settings.STATS_AGREEMENT_FLOOR


def drift_warnings(stats_filter: StatsFilter | None = None) -> list[DriftWarning]:
    """Warnings for the models in scope; versions of one product are compared in creation order."""
    stats_filter = stats_filter or StatsFilter()
    # Every version of a product takes part, whatever versions the filter names.
    rows = study_agreement(replace(stats_filter, model_ids=(), version=""))
    wanted = set(stats_filter.model_ids)
    models = {model.pk: model for model in stats_filter.registered_models}
    by_product: dict[tuple[str, str], list[ModelAgreement]] = {}
    for row in sorted(rows, key=lambda row: (models[row.model_id].created_at, row.model_id)):
        model = models[row.model_id]
        by_product.setdefault((model.vendor, model.product), []).append(row)
    warnings = []
    for versions in by_product.values():
        for index, row in enumerate(versions):
            if wanted and row.model_id not in wanted:
                continue
            warning = _warning(row, versions[:index])
            if warning is not None:
                warnings.append(warning)
    return warnings


def _warning(row: ModelAgreement, earlier: list[ModelAgreement]) -> DriftWarning | None:
    kappa = row.kappa
    if not kappa.known:
        return None
    if earlier:
        pooled = cohens_kappa(
            TwoByTwo(
                sum(version.table.true_positive for version in earlier),
                sum(version.table.false_positive for version in earlier),
                sum(version.table.false_negative for version in earlier),
                sum(version.table.true_negative for version in earlier),
            )
        )
        if pooled.known and kappa.high < pooled.low:
            message = _(
                "Agreement of %(model)s (kappa %(kappa).2f) is below its earlier versions' (%(earlier).2f)."
            ) % {
                "model": row.model,
                "kappa": kappa.value,
                "earlier": pooled.value,
            }
            return DriftWarning(row.model_id, row.model, kappa, pooled, message)
    floor = agreement_floor()
    if kappa.high < floor:
        message = _("Agreement of %(model)s (kappa %(kappa).2f) is below the floor of %(floor).2f.") % {
            "model": row.model,
            "kappa": kappa.value,
            "floor": floor,
        }
        return DriftWarning(row.model_id, row.model, kappa, None, message)
    return None
