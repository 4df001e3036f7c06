"""The audit trail page for admins and department heads: search, filter, export CSV. It lives
here rather than in accounts because it turns patient rows into names, which only worklist
knows; names are shown to those the allow table lets see them (admins), row numbers to the rest.
Looking at the trail is itself audited (ATNA 110101 Audit Log Used)."""

from django.db.models import Q
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts import audit
from accounts.audit_search import AuditSearchForm, csv_lines, events_page, search_events
from accounts.models import AuditAction
from accounts.permissions import can, requires
from worklist.models import Patient

# Enough to find a person by part of a name without turning the search into a patient dump.
MAX_PATIENT_MATCHES = 500


@requires("view_audit")
@require_GET
def audit_log(request: HttpRequest) -> HttpResponse:
    form, events, show_names, refs = _search(request)
    page = events_page(events, before=request.GET.get("before"))
    names = patient_names({e.patient_ref for e in page.events if e.patient_ref is not None}) if show_names else {}
    _record_use(request, form, refs, export=False, shown=len(page.events))
    query = request.GET.copy()
    query.pop("before", None)
    context = {
        "form": form,
        "rows": [(event, names.get(event.patient_ref)) for event in page.events],
        "show_names": show_names,
        "next_before": page.next_before,
        "query": query.urlencode(),
    }
    return render(request, "accounts/audit/log.html", context)


@requires("view_audit")
@require_GET
def audit_export(request: HttpRequest) -> HttpResponse:
    form, events, show_names, refs = _search(request)
    _record_use(request, form, refs, export=True, shown=None)
    response = StreamingHttpResponse(
        csv_lines(events, patients=patient_names if show_names else None), content_type="text/csv; charset=utf-8"
    )
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
    return response


def _search(request: HttpRequest):
    form = AuditSearchForm(request.GET)
    show_names = can(request.user, "view_audit_patient_names")
    if not form.is_valid():
        return form, search_events({}).none(), show_names, None
    refs = patient_refs(form.cleaned_data["patient"], by_name=show_names)
    return form, search_events(form.cleaned_data, patient_refs=refs), show_names, refs


def patient_refs(text: str, *, by_name: bool) -> list[int] | None:
    """The patient rows the patient filter means: a patient ID or part of a name for those who may
    see names, the row number alone for everyone else. None: no patient filter."""
    text = text.strip()
    if not text:
        return None
    if not by_name:
        return [int(text)] if text.isdigit() else []
    matches = Patient.objects.filter(Q(patient_id=text) | Q(name__icontains=text)).values_list("id", flat=True)
    refs = list(matches[:MAX_PATIENT_MATCHES])
    if text.isdigit():
        refs.append(int(text))
    return refs


def patient_names(refs: set[int]) -> dict[int, tuple[str, str]]:
    """{patient row: (patient ID, display name)}, for admins only."""
    return {patient.pk: (patient.patient_id, patient.display_name) for patient in Patient.objects.filter(pk__in=refs)}


def _record_use(request: HttpRequest, form: AuditSearchForm, refs: list[int] | None, *, export: bool, shown) -> None:
    # The filters go into the trail, but never the patient text itself: it may be a name.
    criteria = form.cleaned_data if form.is_bound and hasattr(form, "cleaned_data") else {}
    filters = {key: str(value) for key, value in criteria.items() if value and key != "patient"}
    detail = {"filters": filters, "patient_filter": refs is not None, "export": "csv" if export else ""}
    if shown is not None:
        detail["shown"] = shown
    audit.record(
        action=AuditAction.AUDIT_LOG_VIEWED,
        user=request.user,
        source=audit.client_address(request),
        patient_ref=refs[0] if refs and len(refs) == 1 else None,
        detail=detail,
    )


# Mounted under the worklist's URLs as audit/ (names worklist:audit, worklist:audit_export).
urlpatterns = [
    path("", audit_log, name="audit"),
    path("export.csv", audit_export, name="audit_export"),
]
