"""The radiologist's verdict on each AI finding: accept, reject (with a reason) or modify (corrected
geometry or label), and undo, until the report is signed.

The history is append-only: deciding inserts revision expected+1 and never updates a row. Of two
verdicts made from the same revision exactly one is stored; the other is StaleDecision (409),
carrying who decided first and the current verdict."""

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import Http404
from django.utils.translation import gettext as _

from accounts import audit
from accounts.models import AuditAction, User
from ai_overlays.models import Finding, GeometryKind
from reading.edit_rights import ReadingRefused, check_may_edit
from reading.finding_geometry import check_geometry
from reading.models import FindingDecision, RejectionReason, Verdict
from worklist.models import Study
from worklist.readers import display_name
from worklist.workflow import touch_claim

FINAL_VERDICTS = (Verdict.ACCEPTED, Verdict.REJECTED, Verdict.MODIFIED)
MAX_NOTE = 2000
MAX_LABEL = 200
FLAT_KINDS = (GeometryKind.POINT, GeometryKind.BOX, GeometryKind.POLYGON)


class StaleDecision(ReadingRefused):
    """The finding was decided meanwhile; `current` is the verdict now in force (None: never decided)."""

    def __init__(self, current: FindingDecision | None):
        who = display_name(current.decided_by) if current else ""
        message = (
            _("%(name)s changed this finding first; look at the current verdict and decide again.") % {"name": who}
            if who
            else _("This finding changed meanwhile; look again and decide again.")
        )
        super().__init__("stale", message, changed_by=who)
        self.current = current


def study_findings(study: Study) -> QuerySet[Finding]:
    return (
        Finding.objects.filter(result__study=study)
        .select_related("result__ai_model")
        .order_by("result__received_at", "result_id", "id")
    )


def access_finding(study: Study, finding_id: int) -> Finding:
    """An AI finding of this study, or 404 (a finding id of another study is not found here)."""
    finding = study_findings(study).filter(pk=finding_id).first()
    if finding is None:
        raise Http404("No such finding in this study")
    return finding


def decision_histories(study: Study) -> dict[int, list[FindingDecision]]:
    """Every finding's decisions, oldest first; the last one is the current verdict."""
    histories: dict[int, list[FindingDecision]] = {}
    for decision in FindingDecision.objects.filter(study=study).select_related("decided_by").order_by("revision"):
        histories.setdefault(decision.finding_id, []).append(decision)
    return histories


def is_decided(history: list[FindingDecision]) -> bool:
    return bool(history) and history[-1].verdict in FINAL_VERDICTS


def undecided_findings(study: Study) -> list[Finding]:
    histories = decision_histories(study)
    return [finding for finding in study_findings(study) if not is_decided(histories.get(finding.pk, []))]


@transaction.atomic
def decide_finding(
    *,
    user: User,
    study: Study,
    finding: Finding,
    verdict: str,
    expected_revision: int,
    reason: str = "",
    note: str = "",
    geometry_kind: str = "",
    geometry: Any = None,
    label: str = "",
    source: str = "",
) -> FindingDecision:
    study = check_may_edit(user, study)
    fields = check_verdict(
        study=study,
        finding=finding,
        verdict=verdict,
        reason=reason,
        note=note,
        geometry_kind=geometry_kind,
        geometry=geometry,
        label=label,
    )
    return _append(
        user=user, study=study, finding=finding, expected_revision=expected_revision, fields=fields, source=source
    )


@transaction.atomic
def undo_decision(
    *, user: User, study: Study, finding: Finding, expected_revision: int, source: str = ""
) -> FindingDecision:
    """Back to undecided: a new revision, so the history keeps what was undone."""
    study = check_may_edit(user, study)
    latest = _latest(finding)
    if latest is None or latest.verdict == Verdict.UNDECIDED:
        if expected_revision != (latest.revision if latest else 0):
            raise StaleDecision(latest)
        raise ReadingRefused("nothing_to_undo", _("This finding has no verdict to undo."))
    fields = {"verdict": Verdict.UNDECIDED}
    return _append(
        user=user, study=study, finding=finding, expected_revision=expected_revision, fields=fields, source=source
    )


def check_verdict(
    *,
    study: Study,
    finding: Finding,
    verdict: str,
    reason: str,
    note: str,
    geometry_kind: str,
    geometry: Any,
    label: str,
) -> dict[str, Any]:
    """The row's fields for a valid verdict, or ReadingRefused (400) naming the field."""
    if verdict not in FINAL_VERDICTS:
        raise _invalid("verdict", _("Choose accept, reject or modify."))
    if not isinstance(note, str) or len(note) > MAX_NOTE:
        raise _invalid("note", _("A note has at most %(n)d characters.") % {"n": MAX_NOTE})
    fields: dict[str, Any] = {"verdict": verdict, "note": note.strip()}
    if verdict == Verdict.REJECTED:
        if reason not in RejectionReason.values:
            raise _invalid("reason", _("Choose why the finding is rejected."))
        if reason == RejectionReason.OTHER and not fields["note"]:
            raise _invalid("note", _("Say in a note why the finding is rejected."))
        fields["reason"] = reason
    if verdict == Verdict.MODIFIED:
        fields.update(_modification(study, finding, geometry_kind, geometry, label))
    return fields


def _modification(study: Study, finding: Finding, geometry_kind: str, geometry: Any, label: str) -> dict[str, Any]:
    if not isinstance(label, str) or len(label) > MAX_LABEL:
        raise _invalid("label", _("A label has at most %(n)d characters.") % {"n": MAX_LABEL})
    fields: dict[str, Any] = {"label": label.strip()}
    if geometry_kind:
        # A correction stays on the finding's own image (or series, for a 3D box).
        if finding.geometry_kind == GeometryKind.BOX_3D:
            kinds: tuple[str, ...] = (GeometryKind.BOX_3D,)
        elif finding.geometry_kind in FLAT_KINDS:
            kinds = FLAT_KINDS
        else:
            raise _invalid("geometry_kind", _("This finding is about the whole study; only its label can change."))
        checked = check_geometry(
            study=study,
            kind=geometry_kind,
            geometry=geometry,
            series_instance_uid=finding.series_instance_uid,
            sop_instance_uid=finding.sop_instance_uid,
            frame=finding.frame,
            kinds=kinds,
        )
        fields.update(geometry_kind=checked.kind, geometry=checked.geometry)
    if not geometry_kind and fields["label"] in ("", finding.label):
        raise _invalid("geometry", _("A modification changes the outline or the label."))
    return fields


def _append(
    *, user: User, study: Study, finding: Finding, expected_revision: int, fields: dict[str, Any], source: str
) -> FindingDecision:
    latest = _latest(finding)
    if expected_revision != (latest.revision if latest else 0):
        raise StaleDecision(latest)
    try:
        # The unique (finding, revision) is the arbiter when two writers got past the check together.
        with transaction.atomic():
            decision = FindingDecision.objects.create(
                study=study, finding=finding, revision=expected_revision + 1, decided_by=user, **fields
            )
    except IntegrityError as error:
        raise StaleDecision(_latest(finding)) from error
    audit.record(
        action=AuditAction.FINDING_DECIDED,
        user=user,
        source=source,
        study_uid=study.study_instance_uid,
        patient_ref=study.patient_id,
        detail={
            "finding": finding.pk,
            "revision": decision.revision,
            "verdict": decision.verdict,
            "reason": decision.reason,
            "model": str(finding.result.ai_model),
        },
    )
    touch_claim(user=user, study=study)
    return decision


def _latest(finding: Finding) -> FindingDecision | None:
    return FindingDecision.objects.filter(finding=finding).select_related("decided_by").order_by("-revision").first()


def _invalid(field: str, message: str) -> ReadingRefused:
    return ReadingRefused("invalid", message, http_status=400, field=field)
