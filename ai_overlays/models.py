"""The AI side of a study: which models exist, which engines run them, the jobs that send studies
to engines, and what comes back (results with their findings and heatmaps).

Nothing here knows of radiologists' verdicts; the worklist learns of results only through
worklist.workflow.record_ai_summary."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import Site
from worklist.models import ClinicalArea, Study


class AIModel(models.Model):
    """One registered version of one vendor's product; a new version is a new row, so statistics
    can be split by version."""

    vendor = models.CharField(_("vendor"), max_length=100)
    product = models.CharField(_("product"), max_length=100)
    version = models.CharField(_("version"), max_length=40)
    clinical_area = models.CharField(_("clinical area"), max_length=16, choices=ClinicalArea.choices)
    # Space-separated DICOM modalities the model reads, e.g. "CT" or "CR DX".
    modalities = models.CharField(_("modalities"), max_length=64)
    # Case scores at or above this are positive (0-100, the scale of every score we store).
    operating_threshold = models.PositiveSmallIntegerField(_("operating threshold"), default=50)
    regulatory_clearance = models.CharField(_("regulatory clearance"), max_length=100, blank=True)
    # Shown beside every finding of this model; the viewer draws the model in this colour.
    colour = models.CharField(_("colour"), max_length=7, default="#ffb000")
    is_active = models.BooleanField(_("active"), default=True)
    is_reference = models.BooleanField(
        _("reference engine, not for clinical use"),
        default=False,
        help_text=_("Results of this model are labelled everywhere as not for clinical use."),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["vendor", "product", "version"]
        verbose_name = _("AI model")
        verbose_name_plural = _("AI models")
        constraints = [
            models.UniqueConstraint(fields=["vendor", "product", "version"], name="ai_model_unique_version"),
            models.CheckConstraint(condition=models.Q(operating_threshold__lte=100), name="ai_model_threshold_0_100"),
        ]

    def __str__(self) -> str:
        return f"{self.vendor} {self.product} {self.version}"

    def modality_list(self) -> list[str]:
        return self.modalities.split()


class EngineKind(models.TextChoices):
    REFERENCE = "reference", _("Built-in reference engine")
    HTTP = "http", _("Vendor engine over HTTP")


class AIEngine(models.Model):
    """A service that runs models: a user with the AI engine role whose API tokens are scoped to
    the models and sites listed here."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="ai_engine", verbose_name=_("service account")
    )
    kind = models.CharField(_("kind"), max_length=16, choices=EngineKind.choices, default=EngineKind.HTTP)
    # Where a vendor engine is told of a study to analyse (POST, JSON); it answers later through the API.
    endpoint_url = models.URLField(_("endpoint URL"), blank=True)
    ai_models = models.ManyToManyField(AIModel, related_name="engines", verbose_name=_("models"))
    sites = models.ManyToManyField(Site, related_name="ai_engines", verbose_name=_("sites"))
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("AI engine")
        verbose_name_plural = _("AI engines")

    def __str__(self) -> str:
        return self.name


class JobStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENT = "sent", _("Sent, waiting for the result")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class AIJob(models.Model):
    """A study sent (or to be sent) to one engine. Retried with growing waits up to a limit."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="ai_jobs")
    engine = models.ForeignKey(AIEngine, on_delete=models.CASCADE, related_name="jobs")
    status = models.CharField(_("status"), max_length=16, choices=JobStatus.choices, default=JobStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    reason = models.CharField(_("reason"), max_length=300, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("AI job")
        verbose_name_plural = _("AI jobs")
        constraints = [models.UniqueConstraint(fields=["study", "engine"], name="ai_job_one_per_engine")]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="ai_job_due")]

    def __str__(self) -> str:
        return f"{self.engine} {self.study_id} {self.status}"


class ResultSource(models.TextChoices):
    API = "api", _("REST API")
    DICOM_SEG = "dicom_seg", _("DICOM Segmentation")
    DICOM_SR = "dicom_sr", _("DICOM Structured Report")
    DICOM_PM = "dicom_pm", _("DICOM Parametric Map")


class AIResult(models.Model):
    """One delivery of one model about one study. Idempotent on (model, result_id): the engine's
    own id for a REST delivery, the SOP Instance UID for a DICOM object."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="ai_results")
    ai_model = models.ForeignKey(AIModel, on_delete=models.PROTECT, related_name="results")
    engine = models.ForeignKey(AIEngine, null=True, blank=True, on_delete=models.PROTECT, related_name="results")
    result_id = models.CharField(max_length=128)
    # SHA-256 of the canonical request body: the same id with another body is refused.
    body_sha256 = models.CharField(max_length=64)
    source = models.CharField(max_length=16, choices=ResultSource.choices, default=ResultSource.API)
    case_score = models.FloatField(_("case score"), null=True, blank=True)
    triage_flag = models.BooleanField(_("urgent"), default=False)
    summary = models.TextField(_("summary"), blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["received_at", "id"]
        verbose_name = _("AI result")
        verbose_name_plural = _("AI results")
        constraints = [models.UniqueConstraint(fields=["ai_model", "result_id"], name="ai_result_idempotent")]
        indexes = [models.Index(fields=["study", "received_at"], name="ai_result_study")]

    def __str__(self) -> str:
        return f"{self.ai_model} {self.result_id}"


class GeometryKind(models.TextChoices):
    POINT = "point", _("Point")
    BOX = "box", _("Box")
    POLYGON = "polygon", _("Outline")
    BOX_3D = "box3d", _("3D box")
    NONE = "none", _("Whole study")


class Finding(models.Model):
    """One thing a model found. 2D geometry is in image pixel coordinates (column, row; 0,0 at the
    top-left corner of the first pixel) on one frame of one instance; a 3D box spans slices of a
    series: {"min": [column, row, slice_index], "max": [...]} with slice_index in the order of the
    series' instances by position (the viewer's order)."""

    result = models.ForeignKey(AIResult, on_delete=models.CASCADE, related_name="findings")
    finding_type = models.SlugField(_("finding type"), max_length=40)
    label = models.CharField(_("label"), max_length=200, blank=True)
    score = models.FloatField(_("score"), null=True, blank=True)
    geometry_kind = models.CharField(max_length=8, choices=GeometryKind.choices)
    geometry = models.JSONField(default=dict, blank=True)
    series_instance_uid = models.CharField(max_length=64, blank=True)
    sop_instance_uid = models.CharField(max_length=64, blank=True)
    frame = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["result", "id"]
        verbose_name = _("AI finding")
        verbose_name_plural = _("AI findings")

    def __str__(self) -> str:
        return f"{self.finding_type} {self.score}"


class Heatmap(models.Model):
    """A probability map (0-255 = 0-1) over one frame, kept as an 8-bit greyscale PNG."""

    result = models.ForeignKey(AIResult, on_delete=models.CASCADE, related_name="heatmaps")
    series_instance_uid = models.CharField(max_length=64)
    sop_instance_uid = models.CharField(max_length=64)
    frame = models.PositiveIntegerField(default=1)
    rows = models.PositiveIntegerField()
    columns = models.PositiveIntegerField()
    png = models.BinaryField()

    class Meta:
        ordering = ["result", "id"]
        constraints = [
            models.UniqueConstraint(fields=["result", "sop_instance_uid", "frame"], name="heatmap_one_per_frame")
        ]

    def __str__(self) -> str:
        return f"{self.sop_instance_uid}#{self.frame}"
