from django.core.paginator import Paginator
from django.db import transaction
from django.shortcuts import render

from accounts import audit
from accounts.models import AuditAction
from accounts.permissions import requires
from worklist.access import access_study, visible_studies
from worklist.study_search import search_studies

PAGE_SIZE = 50


@requires("view_studies")
def home(request):
    query = request.GET.get("q", "").strip()[:64]
    studies = search_studies(visible_studies(request.user), query).select_related("patient", "site")
    page = Paginator(studies.order_by("-received_at", "-id"), PAGE_SIZE).get_page(request.GET.get("page"))
    audit.record(
        action=AuditAction.STUDY_LIST_VIEWED,
        user=request.user,
        source=audit.client_address(request),
        detail={"count": len(page.object_list), "searched": bool(query)},
    )
    return render(request, "worklist/home.html", {"page": page, "query": query})


@requires("view_studies")
@transaction.atomic
def study_detail(request, study_uid: str):
    study = access_study(request.user, study_uid)
    audit.record(
        action=AuditAction.STUDY_VIEWED,
        user=request.user,
        source=audit.client_address(request),
        study_uid=study.study_instance_uid,
        patient_ref=study.patient_id,
    )
    series = study.series.all()
    return render(request, "worklist/study.html", {"study": study, "series": series})
