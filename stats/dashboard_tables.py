"""The dashboard's tables, built from stats.queries: what each chart shows, as rows of cells whose
numbers link to the studies behind them. The same Table is rendered on the page and exported."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from reading.models import RejectionReason, Verdict
from stats import queries
from stats.estimates import Estimate
from stats.filters import StatsFilter

# A drill-down link: (filter narrowed to the cell, metric, value, model id, score bin) -> URL.
LinkMaker = Callable[..., str]


@dataclass(frozen=True)
class Cell:
    value: Any  # the number (None when there is none), or the text of a label cell
    text: str  # as shown and exported to CSV
    link: str = ""  # the studies behind the number
    note: str = ""  # why there is no figure ("too few cases ...")

    @property
    def is_figure(self) -> bool:
        return not isinstance(self.value, str)


@dataclass(frozen=True)
class Table:
    slug: str
    title: str
    columns: list[str]
    rows: list[list[Cell]] = field(default_factory=list)

    def headers(self) -> list[tuple[str, bool]]:
        """Each column's label, and whether it holds figures (aligned right, like its cells)."""
        first = self.rows[0] if self.rows else []
        figures = [index > 0 and cell.is_figure for index, cell in enumerate(first)]
        return [(label, figures[index] if index < len(figures) else False) for index, label in enumerate(self.columns)]


TABLE_TITLES = {
    "summary": gettext_lazy("Verdicts on AI findings"),
    "acceptance": gettext_lazy("Acceptance over time"),
    "reasons": gettext_lazy("Rejection reasons"),
    "scores": gettext_lazy("Scores of accepted and rejected findings"),
    "agreement": gettext_lazy("AI call against the signed report"),
    "turnaround": gettext_lazy("Turnaround"),
}


def label(text: str) -> Cell:
    return Cell(str(text), str(text))


def count(number: int, link: str = "") -> Cell:
    return Cell(number, number_format(number, force_grouping=True), link if number else "")


def rate(estimate: Estimate) -> Cell:
    """A share as a percentage with its 95% interval, or "too few cases"."""
    if not estimate.known:
        return Cell(None, _("too few cases"), note=estimate.reason)
    return Cell(round(estimate.value * 100, 1), f"{percent(estimate.value)} ({interval(estimate)})")


def kappa(estimate: Estimate) -> Cell:
    if not estimate.known:
        return Cell(None, _("too few cases"), note=estimate.reason)
    return Cell(round(estimate.value, 3), f"{estimate.value:.2f} ({estimate.low:.2f}–{estimate.high:.2f})")


def percent(value: float) -> str:
    return f"{value * 100:.1f}%"


def interval(estimate: Estimate) -> str:
    return f"{estimate.low * 100:.1f}–{estimate.high * 100:.1f}%"


def duration(seconds: float | None) -> Cell:
    if seconds is None:
        return Cell(None, "–")
    minutes = seconds / 60
    text = f"{minutes:.0f} min" if minutes < 120 else f"{minutes / 60:.1f} h"
    return Cell(round(minutes, 1), text)


METRIC_LABELS = {
    "verdict": gettext_lazy("AI findings by verdict"),
    "reason": gettext_lazy("Rejected AI findings by reason"),
    "score": gettext_lazy("AI findings by score"),
    "miss": gettext_lazy("Findings the AI missed"),
    "agreement": gettext_lazy("AI call against the signed report"),
    "turnaround": gettext_lazy("Turnaround"),
}


VALUE_LABELS = {
    **dict(Verdict.choices),
    **dict(RejectionReason.choices),
    "tp": gettext_lazy("AI+ report+"),
    "fp": gettext_lazy("AI+ report−"),
    "fn": gettext_lazy("AI− report+"),
    "tn": gettext_lazy("AI− report−"),
    "urgent": gettext_lazy("AI urgent"),
    "other": gettext_lazy("Other"),
}


def figure_label(metric: str, value: str) -> str:
    """What a drill-down lists, in words: "AI findings by verdict · Accepted"."""
    parts = [METRIC_LABELS[metric], VALUE_LABELS.get(value, "")]
    return " · ".join(str(part) for part in parts if part)


def period_bounds(stats_filter: StatsFilter, start: date) -> dict[str, date]:
    """The filter's dates narrowed to one week or month, for a drill-down from a period's row."""
    if stats_filter.granularity == "month":
        end = (start.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    else:
        end = start + timedelta(days=6)
    if stats_filter.date_from and stats_filter.date_from > start:
        start = stats_filter.date_from
    if stats_filter.date_to and stats_filter.date_to < end:
        end = stats_filter.date_to
    return {"date_from": start, "date_to": end}


def summary_table(summary: queries.VerdictSummary, link: LinkMaker) -> Table:
    rows = [
        [label(_("Accepted")), count(summary.accepted, link("verdict", "accepted")), rate(summary.accepted_rate)],
        [label(_("Modified")), count(summary.modified, link("verdict", "modified")), rate(summary.modified_rate)],
        [label(_("Rejected")), count(summary.rejected, link("verdict", "rejected")), rate(summary.rejected_rate)],
        [label(_("Decided")), count(summary.decided, link("verdict", "")), label("")],
        [label(_("Missed by the AI (added by the reader)")), count(summary.misses, link("miss", "")), label("")],
    ]
    return Table("summary", str(TABLE_TITLES["summary"]), [_("Verdict"), _("Findings"), _("Share (95% CI)")], rows)


def acceptance_table(
    series: list[tuple[str, int, queries.PeriodVerdicts]], link: LinkMaker, stats_filter: StatsFilter
) -> Table:
    rows = []
    for model_name, model_id, period in series:
        bounds = period_bounds(stats_filter, period.period)
        rows.append(
            [
                label(period.period.isoformat()),
                label(model_name),
                count(period.accepted, link("verdict", "accepted", model_id=model_id, **bounds)),
                count(period.modified, link("verdict", "modified", model_id=model_id, **bounds)),
                count(period.rejected, link("verdict", "rejected", model_id=model_id, **bounds)),
                rate(period.acceptance),
            ]
        )
    columns = [_("Period"), _("AI model"), _("Accepted"), _("Modified"), _("Rejected"), _("Accepted or modified")]
    return Table("acceptance", str(TABLE_TITLES["acceptance"]), columns, rows)


def reasons_table(reasons: list[queries.ReasonCount], link: LinkMaker) -> Table:
    rows = [[label(row.label), count(row.count, link("reason", row.reason)), rate(row.share)] for row in reasons]
    columns = [_("Reason"), _("Rejected findings"), _("Share (95% CI)")]
    return Table("reasons", str(TABLE_TITLES["reasons"]), columns, rows)


def scores_table(distributions: list[queries.ModelScores], link: LinkMaker) -> Table:
    rows = []
    for model in distributions:
        for score_bin in model.bins:
            bin_index = score_bin.low // 10 if score_bin.low >= 0 else -1
            rows.append(
                [
                    label(model.model),
                    label(score_range(score_bin)),
                    label(_("above") if score_bin.low >= model.threshold else _("below")),
                    *(
                        count(number, link("score", verdict, model_id=model.model_id, score_bin=bin_index))
                        for verdict, number in (
                            ("accepted", score_bin.accepted),
                            ("modified", score_bin.modified),
                            ("rejected", score_bin.rejected),
                        )
                    ),
                ]
            )
    columns = [_("AI model"), _("Score"), _("Threshold"), _("Accepted"), _("Modified"), _("Rejected")]
    return Table("scores", str(TABLE_TITLES["scores"]), columns, rows)


def score_range(score_bin: queries.ScoreBin) -> str:
    if score_bin.low < 0:
        return _("no score")
    return f"{score_bin.low}–{score_bin.high}"


def agreement_table(agreements: list[queries.ModelAgreement], link: LinkMaker) -> Table:
    rows = []
    for model in agreements:
        table = model.table
        rows.append(
            [
                label(model.model),
                label(str(model.threshold)),
                count(table.true_positive, link("agreement", "tp", model_id=model.model_id)),
                count(table.false_positive, link("agreement", "fp", model_id=model.model_id)),
                count(table.false_negative, link("agreement", "fn", model_id=model.model_id)),
                count(table.true_negative, link("agreement", "tn", model_id=model.model_id)),
                rate(model.sensitivity),
                rate(model.specificity),
                rate(model.ppv),
                rate(model.npv),
                kappa(model.kappa),
            ]
        )
    columns = [
        _("AI model"),
        _("Threshold"),
        _("AI+ report+"),
        _("AI+ report−"),
        _("AI− report+"),
        _("AI− report−"),
        _("Sensitivity"),
        _("Specificity"),
        _("PPV"),
        _("NPV"),
        _("Kappa"),
    ]
    return Table("agreement", str(TABLE_TITLES["agreement"]), columns, rows)


SEGMENT_LABELS = {
    "arrival_ai": gettext_lazy("Arrival → AI result"),
    "ai_claim": gettext_lazy("AI result → claim"),
    "claim_sign": gettext_lazy("Claim → signature"),
    "arrival_sign": gettext_lazy("Arrival → signature"),
}


def segment_label(row: queries.TurnaroundRow) -> str:
    return str(SEGMENT_LABELS.get(row.segment, row.segment_label))


def turnaround_table(rows_in: list[queries.TurnaroundRow], link: LinkMaker) -> Table:
    rows = [
        [
            label(segment_label(row)),
            label(_("AI urgent") if row.urgent else _("Other")),
            count(row.count, link("turnaround", "urgent" if row.urgent else "other")),
            duration(row.median_seconds),
            duration(row.p90_seconds),
        ]
        for row in rows_in
    ]
    columns = [_("Step"), _("Group"), _("Studies"), _("Median"), _("90th percentile")]
    return Table("turnaround", str(TABLE_TITLES["turnaround"]), columns, rows)
