"""The worklist page: filters, sort and pages from the query string; saved views; the study page."""

from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import push_url

from accounts import audit
from accounts.models import AuditAction, Site
from accounts.permissions import can, requires
from worklist import saved_filters, worklist_query
from worklist.access import access_study
from worklist.models import ClinicalArea, StudyStatus
from worklist.rows import row_permissions
from worklist.workflow import release_idle_claims
from worklist.worklist_query import WorklistFilters, worklist_page

# The columns of the table: the sort each header applies (None: not sortable) and its label.
COLUMNS = [
    ("priority", gettext_lazy("Priority")),
    ("ai_score", gettext_lazy("AI")),
    ("patient_name", gettext_lazy("Patient")),
    ("patient_id", gettext_lazy("Patient ID")),
    (None, gettext_lazy("Sex/Age")),
    ("site", gettext_lazy("Site")),
    ("modality", gettext_lazy("Modality")),
    ("description", gettext_lazy("Description")),
    ("study_date", gettext_lazy("Study date")),
    ("arrival", gettext_lazy("Since arrival")),
    ("status", gettext_lazy("Status")),
    ("reader", gettext_lazy("Reader")),
    (None, gettext_lazy("Actions")),
]
MODALITIES = ("CT", "MR", "CR", "DX", "MG", "US", "NM", "PT", "XA", "RF")
# htmx asks for a part of the page by naming the element it swaps (HX-Target).
PARTIALS = {"worklist-view": "#view", "worklist-rows": "#rows"}


def home(request: HttpRequest) -> HttpResponse:
    # Where a sign-in lands: a data steward works on the data platform, not the worklist.
    if not can(request.user, "view_studies") and can(request.user, "build_cohorts"):
        return redirect("data_platform:cohorts")
    return worklist_view(request)


@requires("view_studies")
@require_GET
def worklist_view(request: HttpRequest) -> HttpResponse:
    # Lazily here (one indexed query), and from cron with manage.py release_idle_claims.
    release_idle_claims()
    filters = WorklistFilters.from_query(request.GET)
    page = worklist_page(request.user, filters, request.GET.get("cursor"))
    audit.record(
        action=AuditAction.STUDY_LIST_VIEWED,
        user=request.user,
        source=audit.client_address(request),
        detail={"count": len(page.rows), "searched": bool(filters.search), "sort": filters.sort},
    )
    partial = PARTIALS.get(request.htmx.target or "", "") if request.htmx else ""
    response = render(request, f"worklist/worklist.html{partial}", _page_context(request, filters, page))
    if partial == "#view":
        # The address bar shows the view without the form's empty fields, ready to bookmark.
        push_url(response, _worklist_url(filters, request.GET.get("cursor") if page.previous_cursor else None))
    return response


def _page_context(request: HttpRequest, filters: WorklistFilters, page: worklist_query.WorklistPage) -> dict:
    site_ids = request.user.site_ids()
    sites = Site.objects.all() if site_ids is None else Site.objects.filter(id__in=site_ids)
    return {
        "filters": filters,
        "page": page,
        "query": filters.query_string(),
        # Where the rows are re-read from when a live update asks (this very page).
        "current_url": _worklist_url(filters, request.GET.get("cursor") if page.previous_cursor else None),
        "first_url": _worklist_url(filters),
        "previous_url": page.previous_cursor and _worklist_url(filters, page.previous_cursor),
        "next_url": page.next_cursor and _worklist_url(filters, page.next_cursor),
        "headers": [_header(filters, sort, label) for sort, label in COLUMNS],
        "sites": sites,
        "statuses": [(worklist_query.UNREAD, _("Unread")), (worklist_query.ALL, _("All")), *StudyStatus.choices],
        "areas": ClinicalArea.choices,
        "modalities": sorted({*MODALITIES, filters.modality} - {""}),
        "presets": saved_filters.presets_of(request.user),
        **row_permissions(request.user),
    }


def _header(filters: WorklistFilters, sort: str | None, label: str) -> dict:
    if sort is None:
        return {"label": label}
    active = filters.sort == sort
    return {
        "label": label,
        "sort": sort,
        "url": _worklist_url(filters.sorted_by(sort)),
        "direction": ("descending" if filters.descending else "ascending") if active else "",
    }


def _worklist_url(filters: WorklistFilters, cursor: str | None = None) -> str:
    params = filters.as_params() + ([("cursor", cursor)] if cursor else [])
    return reverse("worklist:home") + (f"?{urlencode(params)}" if params else "")


@requires("view_studies")
@require_POST
def save_preset(request: HttpRequest) -> HttpResponse:
    query = request.POST.get("query", "")
    if saved_filters.save_preset(user=request.user, name=request.POST.get("name", ""), query=query) is None:
        messages.error(request, _("Give the view a name (and fewer filters)."))
    return redirect(_worklist_url(WorklistFilters.from_query(QueryDict(query))))


@requires("view_studies")
@require_POST
@transaction.atomic
def delete_preset(request: HttpRequest, preset_id: int) -> HttpResponse:
    preset = saved_filters.access_saved_filter(request.user, preset_id)
    preset.delete()
    return redirect(_worklist_url(WorklistFilters.from_query(QueryDict(request.POST.get("query", "")))))


@requires("view_studies")
def study_detail(request: HttpRequest, study_uid: str) -> HttpResponse:
    # Not atomic: a refusal's audit row must outlive the PermissionDenied that follows it.
    study = access_study(request.user, study_uid, source=audit.client_address(request))
    audit.record(
        action=AuditAction.STUDY_VIEWED,
        user=request.user,
        source=audit.client_address(request),
        study_uid=study.study_instance_uid,
        patient_ref=study.patient_id,
    )
    series = study.series.all()
    return render(request, "worklist/study.html", {"study": study, "series": series})
