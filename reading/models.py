"""The radiologist's side of a study: a verdict on every AI finding (an append-only history), the
findings the AI missed, and the signed report with its addenda."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from ai_overlays.models import Finding, GeometryKind
from worklist.models import Study


class Verdict(models.TextChoices):
    ACCEPTED = "accepted", _("Accepted")
    REJECTED = "rejected", _("Rejected")
    MODIFIED = "modified", _("Modified")
    # An undo: the finding is back to undecided (only before signing).
    UNDECIDED = "undecided", _("Undecided")


class RejectionReason(models.TextChoices):
    ARTEFACT = "artefact", _("False positive: artefact")
    NORMAL_STRUCTURE = "normal_structure", _("False positive: normal structure")
    BENIGN = "benign", _("Benign finding")
    ALREADY_KNOWN = "already_known", _("Already known")
    OTHER = "other", _("Other")


class FindingDecision(models.Model):
    """One step of the history of a verdict on one AI finding; the latest revision is the current
    verdict. Rows are only ever added: revision n+1 can be written once, so of two readers deciding
    from the same revision exactly one wins (the unique constraint), the other is told it is stale."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="finding_decisions")
    finding = models.ForeignKey(Finding, on_delete=models.CASCADE, related_name="decisions")
    revision = models.PositiveIntegerField()
    verdict = models.CharField(_("verdict"), max_length=16, choices=Verdict.choices)
    reason = models.CharField(_("reason"), max_length=24, choices=RejectionReason.choices, blank=True)
    note = models.TextField(_("note"), blank=True)
    # A modification: the corrected geometry (same conventions as ai_overlays.models.Finding) and label.
    geometry_kind = models.CharField(max_length=8, choices=GeometryKind.choices, blank=True)
    geometry = models.JSONField(default=dict, blank=True)
    label = models.CharField(_("label"), max_length=200, blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["finding", "revision"]
        verbose_name = _("finding decision")
        verbose_name_plural = _("finding decisions")
        constraints = [models.UniqueConstraint(fields=["finding", "revision"], name="decision_one_per_revision")]
        indexes = [models.Index(fields=["study", "finding", "-revision"], name="decision_latest")]

    def __str__(self) -> str:
        return f"{self.finding_id} r{self.revision} {self.verdict}"


class ReaderFinding(models.Model):
    """A finding the radiologist added because the AI missed it. Removable until the report is signed."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="reader_findings")
    finding_type = models.SlugField(_("finding type"), max_length=40)
    label = models.CharField(_("label"), max_length=200, blank=True)
    geometry_kind = models.CharField(max_length=8, choices=GeometryKind.choices)
    geometry = models.JSONField(default=dict, blank=True)
    series_instance_uid = models.CharField(max_length=64, blank=True)
    sop_instance_uid = models.CharField(max_length=64, blank=True)
    frame = models.PositiveIntegerField(default=1)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("finding added by the reader")
        verbose_name_plural = _("findings added by the reader")

    def __str__(self) -> str:
        return f"{self.finding_type} on {self.study_id}"


class ReportStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SIGNED = "signed", _("Signed")


class PacsDelivery(models.TextChoices):
    NOT_SENT = "", _("Not sent")
    PENDING = "pending", _("Sending")
    SENT = "sent", _("Sent to the PACS")
    FAILED = "failed", _("Sending failed")
    NO_PACS = "no_pacs", _("No PACS configured")


class Report(models.Model):
    """The report of one study: the structured fields of its clinical area, the impression, and
    once signed, the DICOM SR sent back to the PACS."""

    study = models.OneToOneField(Study, on_delete=models.CASCADE, related_name="report")
    clinical_area = models.CharField(max_length=16)
    # The structured part, one form per clinical area (reading.report_forms).
    structured = models.JSONField(default=dict, blank=True)
    findings_text = models.TextField(_("findings"), blank=True)
    impression = models.TextField(_("impression"), blank=True)
    status = models.CharField(max_length=8, choices=ReportStatus.choices, default=ReportStatus.DRAFT)
    # Bumped by every save: a form posted from an older version is stale and refused.
    version = models.PositiveIntegerField(default=0)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    signed_at = models.DateTimeField(null=True, blank=True)
    sr_sop_instance_uid = models.CharField(max_length=64, blank=True)
    pacs_delivery = models.CharField(
        max_length=8, choices=PacsDelivery.choices, default=PacsDelivery.NOT_SENT, blank=True
    )
    pacs_detail = models.CharField(max_length=300, blank=True)

    class Meta:
        verbose_name = _("report")
        verbose_name_plural = _("reports")

    def __str__(self) -> str:
        return f"report of {self.study_id} ({self.status})"


class Addendum(models.Model):
    """Text added to a signed report; the signed report itself never changes."""

    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="addenda")
    text = models.TextField(_("text"))
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("addendum")
        verbose_name_plural = _("addenda")

    def __str__(self) -> str:
        return f"addendum to {self.report_id}"
