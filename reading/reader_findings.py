"""Findings the radiologist adds because the AI missed them: a point, a box or an outline on one
image, with a type. Removing one marks it removed (the row stays, for the audit trail)."""

import re
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts import audit
from accounts.models import AuditAction, User
from ai_overlays.models import GeometryKind
from reading.edit_rights import ReadingRefused, check_may_edit
from reading.finding_geometry import check_geometry
from reading.models import ReaderFinding
from worklist.models import ClinicalArea, Study
from worklist.workflow import touch_claim

SLUG = re.compile(r"^[-a-z0-9_]{1,40}$")
MAX_LABEL = 200
READER_KINDS = (GeometryKind.POINT, GeometryKind.BOX, GeometryKind.POLYGON)

# What the viewer offers per clinical area; any slug is accepted, these are the usual ones.
FINDING_TYPES: dict[str, list[tuple[str, Any]]] = {
    ClinicalArea.LUNG: [
        ("nodule", gettext_lazy("Nodule")),
        ("mass", gettext_lazy("Mass")),
        ("consolidation", gettext_lazy("Consolidation")),
        ("effusion", gettext_lazy("Pleural effusion")),
        ("emphysema", gettext_lazy("Emphysema")),
    ],
    ClinicalArea.BREAST: [
        ("mass", gettext_lazy("Mass")),
        ("calcification", gettext_lazy("Calcification")),
        ("architectural-distortion", gettext_lazy("Architectural distortion")),
        ("asymmetry", gettext_lazy("Asymmetry")),
    ],
    ClinicalArea.STROKE: [
        ("haemorrhage", gettext_lazy("Haemorrhage")),
        ("infarct", gettext_lazy("Infarct")),
        ("dense-vessel", gettext_lazy("Hyperdense vessel")),
    ],
    ClinicalArea.DEMENTIA: [
        ("atrophy", gettext_lazy("Atrophy")),
        ("white-matter-lesion", gettext_lazy("White matter lesion")),
        ("microbleed", gettext_lazy("Microbleed")),
    ],
}
OTHER_TYPES = [("lesion", gettext_lazy("Lesion")), ("other", gettext_lazy("Other"))]


def finding_types(area: str) -> list[tuple[str, str]]:
    return [(slug, str(name)) for slug, name in FINDING_TYPES.get(area, []) + OTHER_TYPES]


def active_reader_findings(study: Study) -> QuerySet[ReaderFinding]:
    return ReaderFinding.objects.filter(study=study, removed_at__isnull=True).select_related("created_by")


@transaction.atomic
def add_reader_finding(
    *,
    user: User,
    study: Study,
    finding_type: str,
    geometry_kind: str,
    geometry: Any,
    sop_instance_uid: str,
    series_instance_uid: str = "",
    frame: Any = 1,
    label: str = "",
    source: str = "",
) -> ReaderFinding:
    study = check_may_edit(user, study)
    if not isinstance(finding_type, str) or not SLUG.match(finding_type):
        raise ReadingRefused("invalid", _("Choose the type of the finding."), http_status=400, field="finding_type")
    if not isinstance(label, str) or len(label) > MAX_LABEL:
        message = _("A label has at most %(n)d characters.") % {"n": MAX_LABEL}
        raise ReadingRefused("invalid", message, http_status=400, field="label")
    if not sop_instance_uid:
        raise ReadingRefused("invalid", _("Draw the finding on an image."), http_status=400, field="sop_instance_uid")
    checked = check_geometry(
        study=study,
        kind=geometry_kind,
        geometry=geometry,
        series_instance_uid=series_instance_uid,
        sop_instance_uid=sop_instance_uid,
        frame=frame,
        kinds=READER_KINDS,
    )
    added = ReaderFinding.objects.create(
        study=study,
        finding_type=finding_type,
        label=label.strip(),
        geometry_kind=checked.kind,
        geometry=checked.geometry,
        series_instance_uid=checked.series_instance_uid,
        sop_instance_uid=checked.sop_instance_uid,
        frame=checked.frame,
        created_by=user,
    )
    _audit(user, study, source, reader_finding=added.pk, change="added", finding_type=finding_type)
    touch_claim(user=user, study=study)
    return added


@transaction.atomic
def remove_reader_finding(*, user: User, study: Study, reader_finding_id: int, source: str = "") -> ReaderFinding:
    study = check_may_edit(user, study)
    found = active_reader_findings(study).select_for_update().filter(pk=reader_finding_id).first()
    if found is None:
        raise Http404("No such finding in this study")
    found.removed_at = timezone.now()
    found.save(update_fields=["removed_at"])
    # AuditAction has no "finding removed": the addition's action, with what changed.
    _audit(user, study, source, reader_finding=found.pk, change="removed", finding_type=found.finding_type)
    return found


def _audit(user: User, study: Study, source: str, **detail) -> None:
    audit.record(
        action=AuditAction.FINDING_ADDED,
        user=user,
        source=source,
        study_uid=study.study_instance_uid,
        patient_ref=study.patient_id,
        detail=detail,
    )
