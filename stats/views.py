"""The agreement dashboard: filters from the URL, summary cards, a chart and a table per figure,
every number a link to the studies behind it, each table exported as CSV or XLSX."""

from dataclasses import replace

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from accounts import audit
from accounts.models import AuditAction, Role, Site, User
from accounts.permissions import requires
from stats import charts, drift, exports, plotly_asset, queries
from stats import dashboard_tables as tables
from stats.filters import StatsFilter
from worklist.access import visible_studies
from worklist.models import ClinicalArea

# The sections of the page, in order: what each one fetches, its table, its chart.
SECTIONS = {
    "summary": (queries.verdict_summary, tables.summary_table, None),
    "acceptance": (None, tables.acceptance_table, charts.acceptance_chart),
    "reasons": (queries.rejection_reasons, tables.reasons_table, charts.reasons_chart),
    "scores": (queries.score_distribution, tables.scores_table, charts.scores_chart),
    "agreement": (queries.study_agreement, tables.agreement_table, charts.agreement_chart),
    "turnaround": (queries.turnaround, tables.turnaround_table, charts.turnaround_chart),
}
EXPORTS = {"csv": (exports.table_csv, exports.CSV_TYPE), "xlsx": (exports.table_xlsx, exports.XLSX_TYPE)}


@requires("view_stats")
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    stats_filter = stats_filter_for(request)
    link = drill_link_maker(stats_filter)
    sections = []
    for slug in SECTIONS:
        data = fetch(slug, stats_filter)
        table = build_table(slug, data, link, stats_filter)
        chart_builder = SECTIONS[slug][2]
        chart = charts.as_json(chart_builder(data)) if chart_builder else None
        sections.append(
            {
                "slug": slug,
                "table": table,
                "chart": chart,
                "chart_id": f"chart-data-{slug}",
                "exports": export_links(slug, stats_filter),
            }
        )
    context = {
        "filter": stats_filter,
        "query": stats_filter.to_query(),
        "sections": sections,
        "summary": sections[0]["table"],
        "drift": drift.drift_warnings(stats_filter),
        "choices": filter_choices(request.user, stats_filter),
        "plotly_version": plotly_asset.plotly_version(),
    }
    partial = "#body" if request.htmx and request.htmx.target == "stats-body" else ""
    return render(request, f"stats/dashboard.html{partial}", context)


@requires("view_stats")
@require_GET
def export(request: HttpRequest, table: str, file_format: str) -> HttpResponse:
    if table not in SECTIONS or file_format not in EXPORTS:
        raise Http404("No such table")
    stats_filter = stats_filter_for(request)
    built = build_table(table, fetch(table, stats_filter), drill_link_maker(stats_filter), stats_filter)
    write, content_type = EXPORTS[file_format]
    response = HttpResponse(write(built), content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="agreement-{table}.{file_format}"'
    return response


@requires("view_stats")
@require_GET
def drill_down(request: HttpRequest) -> HttpResponse:
    stats_filter = stats_filter_for(request)
    metric = request.GET.get("metric", "")
    if metric not in queries.METRICS:
        raise Http404("No such figure")
    studies = queries.drill_down(
        stats_filter,
        metric=metric,
        value=request.GET.get("value", ""),
        model_id=_int(request.GET.get("in_model")),
        score_bin=_int(request.GET.get("bin"), allow_negative=True),
    )
    # The figures are the filter's; which studies may be listed is the worklist's rule.
    studies = studies.filter(pk__in=visible_studies(request.user).values("pk"))
    page = queries.study_page(studies, after=_int(request.GET.get("after")))
    audit.record(
        action=AuditAction.STUDY_LIST_VIEWED,
        user=request.user,
        source=audit.client_address(request),
        detail={"count": len(page.studies), "stats": metric},
    )
    next_query = request.GET.copy()
    next_query["after"] = page.next_after
    context = {
        "page": page,
        "metric": metric,
        "figure_label": tables.figure_label(metric, request.GET.get("value", "")),
        "filter": stats_filter,
        "back": reverse("stats:dashboard") + "?" + stats_filter.to_query(),
        "next_url": page.next_after and "?" + next_query.urlencode(),
    }
    return render(request, "stats/studies.html", context)


def stats_filter_for(request: HttpRequest) -> StatsFilter:
    """The filter of the URL, narrowed to what this user may see: a radiologist their own
    figures, a department head of some sites only those sites."""
    user = request.user
    stats_filter = StatsFilter.from_query(request.GET).for_user(user)
    site_ids = user.site_ids()
    if site_ids is not None and user.role != Role.RADIOLOGIST and stats_filter.site_id not in site_ids:
        # StatsFilter holds one site: a head of several (not all) sites sees one at a time.
        stats_filter = replace(stats_filter, site_id=min(site_ids) if site_ids else -1)
    return stats_filter


def fetch(slug: str, stats_filter: StatsFilter):
    if slug == "acceptance":
        return acceptance_series(stats_filter)
    return SECTIONS[slug][0](stats_filter)


def acceptance_series(stats_filter: StatsFilter) -> list[tuple[str, int, queries.PeriodVerdicts]]:
    """The acceptance series of each model version in scope."""
    series = []
    for model in queries.models_in_scope(stats_filter):
        one_model = replace(stats_filter, model_ids=(model.pk,), version="")
        series += [(str(model), model.pk, period) for period in queries.verdict_series(one_model)]
    return series


def build_table(slug: str, data, link, stats_filter: StatsFilter) -> tables.Table:
    builder = SECTIONS[slug][1]
    return builder(data, link, stats_filter) if slug == "acceptance" else builder(data, link)


def drill_link_maker(stats_filter: StatsFilter):
    base = reverse("stats:studies")

    def link(metric: str, value: str = "", *, model_id=None, score_bin=None, **dates) -> str:
        extra = {"metric": metric, "value": value, "in_model": model_id, "bin": score_bin}
        extra_query = urlencode({key: item for key, item in extra.items() if item not in (None, "")})
        return f"{base}?" + "&".join(part for part in (stats_filter.to_query(**dates), extra_query) if part)

    return link


def export_links(slug: str, stats_filter: StatsFilter) -> dict[str, str]:
    query = stats_filter.to_query()
    return {
        file_format: reverse("stats:export", args=[slug, file_format]) + (f"?{query}" if query else "")
        for file_format in EXPORTS
    }


def filter_choices(user: User, stats_filter: StatsFilter) -> dict:
    site_ids = user.site_ids()
    sites = Site.objects.all() if site_ids is None else Site.objects.filter(pk__in=site_ids)
    readers = User.objects.filter(role__in=[Role.RADIOLOGIST, Role.DEPARTMENT_HEAD], is_active=True)
    if user.role == Role.RADIOLOGIST:
        readers = readers.filter(pk=user.pk)
    elif site_ids is not None:
        readers = readers.filter(sites__in=site_ids).distinct()
    models = stats_filter.registered_models
    return {
        "models": models,
        "versions": sorted({model.version for model in models}),
        "areas": ClinicalArea.choices,
        "sites": sites,
        "readers": readers.order_by("last_name", "first_name", "username"),
        "finding_types": queries.finding_types(),
        "reader_locked": "reader_id" in stats_filter.locked,
    }


def _int(value: str | None, *, allow_negative: bool = False) -> int | None:
    try:
        number = int(value) if value not in (None, "") else None
    except ValueError:
        return None
    if number is not None and number < 0 and not allow_negative:
        return None
    return number
