"""Where instances sent by a user (STOW-RS, the upload page) or pulled from the PACS land: the site
chosen with its permission check, and the refusal of instances that belong elsewhere."""

from django.conf import settings
from django.core.exceptions import BadRequest, PermissionDenied
from django.db.models import QuerySet

from accounts import audit
from accounts.models import AuditAction, Site, User
from dicomkit.errors import DicomRejected
from dicomkit.header import parse_instance
from worklist.ingest import IngestResult, ingest
from worklist.models import Study

WRONG_DESTINATION = 0xA900  # PS3.18 Table 10.5.3-3, as Orthanc and dcm4chee answer a foreign study


def upload_sites(user: User) -> QuerySet[Site]:
    """The sites this user may send instances to: their own, or all for hub and admin users."""
    site_ids = user.site_ids()
    return Site.objects.all() if site_ids is None else Site.objects.filter(id__in=site_ids)


def access_upload_site(
    user: User,
    site_code: str,
    *,
    study_uid: str = "",
    source: str = "",
    action: str = "upload_studies",
) -> Site:
    """The site an upload lands in: the one asked for if the user belongs to it (403 otherwise), or
    the site of the addressed study if the user sees it, or the user's only site. Users with several
    sites, hub users included, must choose (400)."""
    sites = upload_sites(user)
    if site_code:
        site = Site.objects.filter(code=site_code).first()
        if site is None:
            raise BadRequest("unknown site")
        if not sites.filter(pk=site.pk).exists():
            audit.record(
                action=AuditAction.ACCESS_DENIED,
                user=user,
                source=source,
                success=False,
                detail={"action": action, "site": site.code},
            )
            raise PermissionDenied("not a member of this site")
        return site
    if study_uid:
        study = Study.objects.filter(study_instance_uid=study_uid, site__in=sites).select_related("site").first()
        if study is not None:
            return study.site
    if user.site_ids() is not None:
        own = list(sites[:2])
        if len(own) == 1:
            return own[0]
        if not own:
            raise PermissionDenied("member of no site")
    raise BadRequest("choose the site with the site parameter")


def ingest_at_site(data: bytes, *, site: Site, source: str, source_detail: str, study_uid: str = "") -> IngestResult:
    """ingest(), after refusing an instance of another study than the one addressed, or of a study
    the archive already holds for another site (it would otherwise join that site's study)."""
    try:
        parsed = parse_instance(data, max_pixel_bytes=settings.MAX_PIXEL_BYTES)
    except DicomRejected:
        return ingest(data, site=site, source=source, source_detail=source_detail)  # refuses it, with the reason
    if study_uid and parsed.study_instance_uid != study_uid:
        reason = "the instance belongs to another study than the one in the URL"
        return _refused(
            parsed.sop_class_uid,
            parsed.sop_instance_uid,
            parsed.study_instance_uid,
            "wrong_study",
            reason,
        )
    held_by = (
        Study.objects.filter(study_instance_uid=parsed.study_instance_uid).values_list("site_id", flat=True).first()
    )
    if held_by is not None and held_by != site.pk:
        reason = "the study is already held for another site"
        return _refused(
            parsed.sop_class_uid,
            parsed.sop_instance_uid,
            parsed.study_instance_uid,
            "other_site",
            reason,
        )
    return ingest(data, site=site, source=source, source_detail=source_detail)


def _refused(sop_class_uid: str, sop_instance_uid: str, study_uid: str, code: str, reason: str) -> IngestResult:
    return IngestResult(
        outcome="refused",
        sop_instance_uid=sop_instance_uid,
        sop_class_uid=sop_class_uid,
        study_instance_uid=study_uid,
        code=code,
        reason=reason,
        dimse_status=WRONG_DESTINATION,
        http_status=409,
    )
