"""The imaging index: Patient (per site) > Study > Series > Instance, following the DICOM
information model (PS3.3 A.1.2). Files live in the archive folder under keys we make; a row
exists only for a file that is durable on disk."""

from django.db import models
from django.db.models import F, OrderBy
from django.utils.translation import gettext_lazy as _

from accounts.models import Site, User


class RemoteAE(models.Model):
    """A DICOM peer allowed to send to us; its calling AE title decides the site of what it sends."""

    ae_title = models.CharField(_("calling AE title"), max_length=16, unique=True)
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="remote_aes")
    description = models.CharField(_("description"), max_length=200, blank=True)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("remote AE")
        verbose_name_plural = _("remote AEs")

    def __str__(self) -> str:
        return self.ae_title


class Patient(models.Model):
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="patients")
    patient_id = models.CharField(_("patient ID"), max_length=64)
    name = models.CharField(_("name"), max_length=200, blank=True)
    birth_date = models.DateField(_("birth date"), null=True, blank=True)
    sex = models.CharField(_("sex"), max_length=1, blank=True)

    class Meta:
        verbose_name = _("patient")
        verbose_name_plural = _("patients")
        constraints = [models.UniqueConstraint(fields=["site", "patient_id"], name="patient_unique_per_site")]
        # The worklist's search finds a patient ID at any site.
        indexes = [
            models.Index(fields=["name"], name="patient_name"),
            models.Index(fields=["patient_id"], name="patient_patient_id"),
        ]

    def __str__(self) -> str:
        return f"{self.patient_id}"

    @property
    def display_name(self) -> str:
        """PN family^given^middle shown the way Korean and English reports write it."""
        parts = [part for part in self.name.split("=")[0].split("^") if part]
        # Korean names are written family name first with no space (김민준), Latin ones with one.
        separator = "" if parts and all(_is_hangul(part) for part in parts) else " "
        return separator.join(parts)


def _is_hangul(text: str) -> bool:
    return all("\uac00" <= character <= "\ud7a3" for character in text.strip())


class StudyStatus(models.TextChoices):
    """The reading lifecycle; the transitions live in worklist.workflow."""

    ARRIVED = "arrived", _("Arrived")
    AI_PENDING = "ai_pending", _("AI pending")
    AI_READY = "ai_ready", _("AI ready")
    AI_FAILED = "ai_failed", _("AI failed")
    NO_AI = "no_ai", _("No AI")
    IN_READING = "in_reading", _("In reading")
    READ = "read", _("Read")


class AiStatus(models.TextChoices):
    """Where the AI analysis of a study stands, kept apart so a release can go back to it."""

    NONE = "", _("Not sent")
    PENDING = "pending", _("Pending")
    READY = "ready", _("Ready")
    FAILED = "failed", _("Failed")
    NO_AI = "no_ai", _("No AI for this study")


class ClinicalArea(models.TextChoices):
    LUNG = "lung", _("Lung")
    BREAST = "breast", _("Breast")
    STROKE = "stroke", _("Stroke")
    DEMENTIA = "dementia", _("Dementia")
    OTHER = "other", _("Other")


# The worklist's default view; partial indexes with this condition hold only the studies still to read.
UNREAD = ~models.Q(status=StudyStatus.READ)


class NullsOrderedIndex(models.Index):
    """An index on ordered expressions that place NULLs, e.g. F("ai_score").desc(nulls_last=True).
    SQLite's CREATE INDEX takes no NULLS clause; NULLs are its smallest values, so there the index
    is made without it (DESC then puts them last anyway)."""

    def create_sql(self, model, schema_editor, using="", **kwargs):
        if schema_editor.connection.vendor != "sqlite":
            return super().create_sql(model, schema_editor, using, **kwargs)
        _, expressions, options = self.deconstruct()
        plain = [OrderBy(e.expression, descending=e.descending) if isinstance(e, OrderBy) else e for e in expressions]
        return models.Index(*plain, **options).create_sql(model, schema_editor, using, **kwargs)


class Study(models.Model):
    study_instance_uid = models.CharField(_("Study Instance UID"), max_length=64, unique=True)
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="studies")
    # Copied from the patient so the worklist filters and sorts on one table.
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="studies")
    accession_number = models.CharField(_("accession number"), max_length=64, blank=True)
    study_id = models.CharField(_("study ID"), max_length=16, blank=True)
    study_date = models.DateField(_("study date"), null=True, blank=True)
    study_time = models.TimeField(_("study time"), null=True, blank=True)
    description = models.CharField(_("description"), max_length=200, blank=True)
    referring_physician = models.CharField(_("referring physician"), max_length=200, blank=True)
    institution_name = models.CharField(_("institution"), max_length=200, blank=True)
    patient_age = models.CharField(_("patient age"), max_length=4, blank=True)
    modalities = models.CharField(_("modalities"), max_length=64, blank=True)
    # The modality of the first image series, for an indexed filter (modalities holds them all).
    modality = models.CharField(_("modality"), max_length=16, blank=True)
    body_part = models.CharField(_("body part"), max_length=64, blank=True)
    # Upper-cased patient name copied here so the worklist's name search is one indexed prefix scan.
    patient_name_search = models.CharField(max_length=200, blank=True)
    clinical_area = models.CharField(
        _("clinical area"), max_length=16, choices=ClinicalArea.choices, default=ClinicalArea.OTHER
    )
    is_stat = models.BooleanField(_("STAT"), default=False)
    status = models.CharField(_("status"), max_length=24, choices=StudyStatus.choices, default=StudyStatus.ARRIVED)
    ai_status = models.CharField(
        _("AI status"), max_length=16, choices=AiStatus.choices, default=AiStatus.NONE, blank=True
    )
    ai_urgent = models.BooleanField(_("AI urgent flag"), default=False)
    ai_score = models.PositiveSmallIntegerField(_("AI score"), null=True, blank=True)
    # One entry per AI model: {"model", "vendor", "version", "score", "urgent", "state"}; set by
    # ai_overlays through worklist.workflow.record_ai_summary.
    ai_summary = models.JSONField(default=list, blank=True)
    # 0 is read first; computed by worklist.priority from the AI flag and the order's priority.
    priority = models.PositiveSmallIntegerField(_("priority"), default=2)
    # No index of its own: study_claimed and study_reader_priority begin with it, and each index
    # costs every write.
    claimed_by = models.ForeignKey(
        User,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="claimed_studies",
        verbose_name=_("reader"),
        db_index=False,
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_activity_at = models.DateTimeField(null=True, blank=True)
    read_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    read_at = models.DateTimeField(null=True, blank=True)
    # Bumped by every change a screen shows; live updates and conditional writes compare it.
    version = models.PositiveIntegerField(default=0)
    received_at = models.DateTimeField(_("arrived"), auto_now_add=True)
    last_received_at = models.DateTimeField(_("last instance arrived"), auto_now_add=True)
    series_count = models.PositiveIntegerField(default=0)
    instance_count = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("study")
        verbose_name_plural = _("studies")
        # The worklist reads a page of a site's studies by arrival (keyset on received_at, id);
        # the search box looks up by accession and date.
        indexes = [
            models.Index(fields=["site", "-received_at", "-id"], name="study_site_arrival"),
            models.Index(fields=["-received_at", "-id"], name="study_arrival"),
            models.Index(fields=["site", "status", "-received_at"], name="study_site_status"),
            models.Index(fields=["accession_number"], name="study_accession"),
            models.Index(fields=["study_date"], name="study_date"),
            # The default worklist: unread studies by priority, then oldest first.
            models.Index(fields=["priority", "received_at", "id"], name="study_priority_arrival"),
            models.Index(fields=["site", "priority", "received_at", "id"], name="study_site_priority"),
            models.Index(fields=["claimed_by", "status"], name="study_claimed"),
            # Sorting by name (keyset on name, id); the prefix search uses the pattern index below,
            # since LIKE 'X%' can use a plain btree only under the C collation. It carries what a
            # search page filters and sorts on by default, so thousands of matches are ranked from
            # the index alone instead of one table row each (and PostgreSQL keeps 1,000 histogram
            # buckets of the name, migration 0008, so it knows when a prefix is that rare).
            models.Index(fields=["patient_name_search", "id"], name="study_patient_name"),
            models.Index(
                fields=["patient_name_search"],
                name="study_name_prefix_covering",
                opclasses=["varchar_pattern_ops"],
                include=["site", "status", "priority", "received_at", "id"],
            ),
            # The unread worklist (status <> read) and its filters, each walked in priority order and
            # stopped after a page; read studies, most of a million, stay out of these indexes.
            models.Index(fields=["priority", "received_at", "id"], name="study_unread", condition=UNREAD),
            models.Index(fields=["site", "priority", "received_at", "id"], name="study_unread_site", condition=UNREAD),
            models.Index(
                fields=["modality", "priority", "received_at", "id"], name="study_unread_modality", condition=UNREAD
            ),
            models.Index(
                fields=["clinical_area", "priority", "received_at", "id"], name="study_unread_area", condition=UNREAD
            ),
            models.Index(fields=["status", "priority", "received_at", "id"], name="study_status_priority"),
            models.Index(
                fields=["claimed_by", "priority", "received_at", "id"], name="study_unread_reader", condition=UNREAD
            ),
            # The unread worklist sorted by a column: walked in order, not a sort of every unread row.
            models.Index(fields=["ai_score", "id"], name="study_unread_ai_score", condition=UNREAD),
            # "AI score, highest first" lists unscored studies last: a walk of the ascending index from
            # its end would pass every unscored study first (NULLs sort last ascending, so first
            # backwards), hence one descending with NULLs last too.
            NullsOrderedIndex(
                F("ai_score").desc(nulls_last=True), F("id").desc(), name="study_unread_ai_score_desc", condition=UNREAD
            ),
            models.Index(fields=["description", "id"], name="study_unread_description", condition=UNREAD),
            models.Index(fields=["patient_name_search", "id"], name="study_unread_name", condition=UNREAD),
            models.Index(fields=["study_date", "study_time", "id"], name="study_unread_date", condition=UNREAD),
            # By patient ID: patients are walked in ID order and their unread studies found here, not
            # among all their studies (2,200 read rows fetched for a page on 1M studies).
            models.Index(fields=["patient"], name="study_unread_patient", condition=UNREAD),
            # The same sorts over every study (status=all or read): without these a page sorts a million rows (2 s).
            models.Index(fields=["modality", "priority", "received_at", "id"], name="study_modality_priority"),
            models.Index(fields=["claimed_by", "priority", "received_at", "id"], name="study_reader_priority"),
            models.Index(fields=["ai_score", "id"], name="study_ai_score"),
            NullsOrderedIndex(F("ai_score").desc(nulls_last=True), F("id").desc(), name="study_ai_score_desc"),
            models.Index(fields=["description", "id"], name="study_description"),
            # AI-flagged studies are few: a small index, so "flagged" never walks the whole worklist.
            models.Index(
                fields=["priority", "received_at", "id"], name="study_ai_urgent", condition=models.Q(ai_urgent=True)
            ),
        ]

    def __str__(self) -> str:
        return self.study_instance_uid


class SavedFilter(models.Model):
    """A radiologist's named worklist view: the query string of its filters and sort."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="saved_filters")
    name = models.CharField(_("name"), max_length=60)
    query = models.CharField(max_length=500)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["user", "name"], name="saved_filter_unique_name")]

    def __str__(self) -> str:
        return self.name


class Series(models.Model):
    series_instance_uid = models.CharField(_("Series Instance UID"), max_length=64, unique=True)
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="series")
    modality = models.CharField(_("modality"), max_length=16, blank=True)
    series_number = models.IntegerField(_("series number"), null=True, blank=True)
    description = models.CharField(_("description"), max_length=200, blank=True)
    series_date = models.DateField(null=True, blank=True)
    series_time = models.TimeField(null=True, blank=True)
    body_part = models.CharField(_("body part"), max_length=64, blank=True)
    laterality = models.CharField(max_length=2, blank=True)
    frame_of_reference_uid = models.CharField(max_length=64, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    instance_count = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("series")
        verbose_name_plural = _("series")
        ordering = ["series_number", "id"]

    def __str__(self) -> str:
        return self.series_instance_uid


class Instance(models.Model):
    sop_instance_uid = models.CharField(_("SOP Instance UID"), max_length=64, unique=True)
    series = models.ForeignKey(Series, on_delete=models.CASCADE, related_name="instances")
    sop_class_uid = models.CharField(max_length=64)
    transfer_syntax_uid = models.CharField(max_length=64)
    instance_number = models.IntegerField(null=True, blank=True)
    # Geometry (PS3.3 C.7.6.2): position of the first pixel and row/column direction cosines, in mm.
    image_position = models.JSONField(null=True, blank=True)
    image_orientation = models.JSONField(null=True, blank=True)
    slice_location = models.FloatField(null=True, blank=True)
    slice_thickness = models.FloatField(null=True, blank=True)
    pixel_spacing = models.JSONField(null=True, blank=True)
    rows = models.PositiveIntegerField(null=True, blank=True)
    columns = models.PositiveIntegerField(null=True, blank=True)
    number_of_frames = models.PositiveIntegerField(default=1)
    samples_per_pixel = models.PositiveSmallIntegerField(null=True, blank=True)
    photometric_interpretation = models.CharField(max_length=16, blank=True)
    bits_allocated = models.PositiveSmallIntegerField(null=True, blank=True)
    bits_stored = models.PositiveSmallIntegerField(null=True, blank=True)
    pixel_representation = models.PositiveSmallIntegerField(null=True, blank=True)
    rescale_slope = models.FloatField(null=True, blank=True)
    rescale_intercept = models.FloatField(null=True, blank=True)
    window_center = models.FloatField(null=True, blank=True)
    window_width = models.FloatField(null=True, blank=True)
    laterality = models.CharField(max_length=2, blank=True)
    view_position = models.CharField(max_length=16, blank=True)
    burned_in_annotation = models.CharField(max_length=3, blank=True)
    has_pixels = models.BooleanField(default=False)
    # Why the viewer cannot show the pixels (set at ingest or by the decode check), "" when fine.
    pixel_problem = models.CharField(max_length=300, blank=True)
    pixels_checked = models.BooleanField(default=False)
    index_warnings = models.JSONField(default=list, blank=True)
    file_key = models.CharField(max_length=100, unique=True)
    file_size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    source = models.CharField(max_length=16)
    source_detail = models.CharField(max_length=64, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("instance")
        verbose_name_plural = _("instances")
        indexes = [models.Index(fields=["series", "instance_number"], name="instance_series_number")]

    def __str__(self) -> str:
        return self.sop_instance_uid
