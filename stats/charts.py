"""The dashboard's charts as Plotly figures built here and handed to the page as JSON, which
static/js/stats-dashboard.js draws with Plotly.react. A chart with nothing to show is None, and the
page says why instead of drawing an empty frame."""

import json

import plotly.graph_objects as go
from django.utils.translation import gettext as _

from stats import queries
from stats.dashboard_tables import score_range, segment_label

COLOURS = {"accepted": "#3ecf8e", "modified": "#4da3ff", "rejected": "#ff6b6b", "urgent": "#ffb000", "other": "#97a3b4"}
TEXT, GRID = "#e6ebf2", "#2c3542"


def as_json(figure: go.Figure | None) -> dict | None:
    """The figure as plain JSON data (for json_script), or None."""
    return None if figure is None else json.loads(figure.to_json())


def _layout(figure: go.Figure, *, y_title: str = "", x_title: str = "", percent: bool = False) -> go.Figure:
    figure.update_layout(
        template=None,
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        font={"color": TEXT, "family": "system-ui, Noto Sans KR, NanumGothic, sans-serif"},
        margin={"l": 56, "r": 16, "t": 16, "b": 48},
        legend={"orientation": "h", "y": -0.2},
        showlegend=True,
        autosize=True,
    )
    figure.update_xaxes(title_text=x_title, gridcolor=GRID, zerolinecolor=GRID, automargin=True)
    figure.update_yaxes(title_text=y_title, gridcolor=GRID, zerolinecolor=GRID, automargin=True)
    if percent:
        figure.update_yaxes(range=[0, 100], ticksuffix="%")
    return figure


def acceptance_chart(series: list[tuple[str, int, queries.PeriodVerdicts]]) -> go.Figure | None:
    """Accepted-or-modified share per period, one line per model version, with its 95% interval."""
    by_model: dict[str, list[queries.PeriodVerdicts]] = {}
    for model_name, _model_id, period in series:
        if period.acceptance.known:
            by_model.setdefault(model_name, []).append(period)
    if not by_model:
        return None
    figure = go.Figure()
    for model_name, periods in by_model.items():
        values = [period.acceptance.value * 100 for period in periods]
        figure.add_trace(
            go.Scatter(
                name=model_name,
                x=[period.period.isoformat() for period in periods],
                y=values,
                mode="lines+markers",
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": [period.acceptance.high * 100 - value for period, value in zip(periods, values)],
                    "arrayminus": [value - period.acceptance.low * 100 for period, value in zip(periods, values)],
                },
            )
        )
    # Periods as categories: one tick per week or month, whatever the span.
    figure.update_xaxes(type="category", categoryorder="category ascending")
    return _layout(figure, y_title=_("Accepted or modified"), percent=True)


def reasons_chart(reasons: list[queries.ReasonCount]) -> go.Figure | None:
    shown = [row for row in reasons if row.count]
    if not shown:
        return None
    figure = go.Figure(
        go.Bar(
            x=[row.count for row in shown][::-1],
            y=[row.label for row in shown][::-1],
            orientation="h",
            marker_color=COLOURS["rejected"],
        )
    )
    figure = _layout(figure, x_title=_("Rejected findings"))
    figure.update_layout(showlegend=False)
    return figure


def scores_chart(distributions: list[queries.ModelScores]) -> go.Figure | None:
    """Score histogram of accepted vs rejected findings of the first model, its threshold a line.
    (One model per chart: thresholds differ between models.)"""
    model = next(
        (model for model in distributions if any(b.accepted or b.rejected or b.modified for b in model.bins)), None
    )
    if model is None:
        return None
    bins = [score_bin for score_bin in model.bins if score_bin.low >= 0]
    centres = [(score_bin.low + score_bin.high) / 2 for score_bin in bins]
    figure = go.Figure()
    for verdict, name in (("accepted", _("Accepted")), ("modified", _("Modified")), ("rejected", _("Rejected"))):
        figure.add_trace(
            go.Bar(
                name=name,
                x=centres,
                y=[getattr(score_bin, verdict) for score_bin in bins],
                width=[score_bin.high - score_bin.low for score_bin in bins],
                marker_color=COLOURS[verdict],
                hovertext=[score_range(score_bin) for score_bin in bins],
            )
        )
    figure.update_layout(barmode="stack")
    figure.add_vline(
        x=model.threshold,
        line_dash="dash",
        line_color=COLOURS["urgent"],
        annotation_text=_("threshold %(value)d") % {"value": model.threshold},
        annotation_font_color=COLOURS["urgent"],
    )
    figure.update_xaxes(range=[0, 100])
    return _layout(figure, x_title=_("Score of %(model)s") % {"model": model.model}, y_title=_("Findings"))


def agreement_chart(agreements: list[queries.ModelAgreement]) -> go.Figure | None:
    """Sensitivity, specificity, PPV, NPV (%) and kappa (x100) per model, with 95% intervals."""
    figure = go.Figure()
    names = [_("Sensitivity"), _("Specificity"), _("PPV"), _("NPV"), _("Kappa ×100")]
    for model in agreements:
        estimates = [model.sensitivity, model.specificity, model.ppv, model.npv, model.kappa]
        shown = [(name, estimate) for name, estimate in zip(names, estimates) if estimate.known]
        if not shown:
            continue
        figure.add_trace(
            go.Scatter(
                name=model.model,
                x=[name for name, _estimate in shown],
                y=[estimate.value * 100 for _name, estimate in shown],
                mode="markers",
                marker={"size": 10},
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": [(estimate.high - estimate.value) * 100 for _name, estimate in shown],
                    "arrayminus": [(estimate.value - estimate.low) * 100 for _name, estimate in shown],
                },
            )
        )
    if not figure.data:
        return None
    # Every figure keeps its place on the axis; one with too few cases is simply absent.
    figure.update_xaxes(type="category", categoryorder="array", categoryarray=names)
    return _layout(figure, y_title="%")


def turnaround_chart(rows: list[queries.TurnaroundRow]) -> go.Figure | None:
    if not any(row.count for row in rows):
        return None
    figure = go.Figure()
    for urgent, name, colour in ((True, _("AI urgent"), COLOURS["urgent"]), (False, _("Other"), COLOURS["other"])):
        chosen = [row for row in rows if row.urgent == urgent]
        figure.add_trace(
            go.Bar(
                name=name,
                x=[segment_label(row) for row in chosen],
                y=[(row.median_seconds or 0) / 60 for row in chosen],
                marker_color=colour,
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": [max(0.0, ((row.p90_seconds or 0) - (row.median_seconds or 0)) / 60) for row in chosen],
                    "arrayminus": [0] * len(chosen),
                },
            )
        )
    figure.update_layout(barmode="group")
    return _layout(figure, y_title=_("Minutes (median, whisker: 90th percentile)"))
