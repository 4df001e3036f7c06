"""The data platform's tables. Two kinds live here and must stay apart (개인정보 보호법 §28-4):
the "additional information" that can re-identify a person (the master patient index, the HMAC key,
the per-person date offsets), read only through data_platform.keys and data_platform.mpi, which
audit every access and are never exported; and the steward's cohorts, purposes and exports."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import Site


class Person(models.Model):
    """One human being across the three hospitals; the pseudonym is a keyed HMAC of `key`."""

    key = models.CharField(_("person key"), max_length=128, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("person")
        verbose_name_plural = _("persons")

    def __str__(self) -> str:
        return f"person {self.pk}"


class LinkSource(models.TextChoices):
    CSV = "csv", _("Hospital list")
    STEWARD = "steward", _("Confirmed by a data steward")
    AUTOMATIC = "automatic", _("Unlinked patient (own person)")


class PersonLink(models.Model):
    """(site, local patient ID) -> person: the master patient index."""

    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="+")
    patient_id = models.CharField(_("patient ID"), max_length=64)
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="links")
    source = models.CharField(max_length=16, choices=LinkSource.choices)
    # Kept only to suggest links (exact match after normalising); never exported.
    name_key = models.CharField(max_length=200, blank=True)
    birth_date = models.DateField(null=True, blank=True)
    sex = models.CharField(max_length=1, blank=True)
    confirmed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("person link")
        verbose_name_plural = _("person links")
        constraints = [models.UniqueConstraint(fields=["site", "patient_id"], name="person_link_unique_patient")]
        indexes = [models.Index(fields=["name_key", "birth_date", "sex"], name="person_link_match")]

    def __str__(self) -> str:
        return f"link {self.pk}"


class IdentityKey(models.Model):
    """The HMAC secret behind pseudonyms and UIDs. One active row; rotating it re-pseudonymises."""

    secret = models.BinaryField()
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("identity key")
        verbose_name_plural = _("identity keys")

    def __str__(self) -> str:
        return f"identity key {self.pk}"


class DateOffset(models.Model):
    """Days added to every date of one person's objects (PS3.15 E.3.6, 113107): kept, so dates of
    several studies keep their gaps and a re-export gives the same dates."""

    person = models.OneToOneField(Person, on_delete=models.PROTECT, related_name="date_offset")
    days = models.IntegerField()

    def __str__(self) -> str:
        return f"offset of {self.person_id}"


class KeyCustodian(models.Model):
    """A data steward who may read the key table itself (rotation, escrow); exporting needs no such flag."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="key_custody")
    granted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    granted_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"custodian {self.user_id}"


class AccessKind(models.TextChoices):
    KEY_READ = "key_read", _("Identity key read")
    OFFSETS_READ = "offsets_read", _("Date offsets read")
    MPI_READ = "mpi_read", _("Master patient index read")
    MPI_CHANGED = "mpi_changed", _("Master patient index changed")
    EXPORT_REQUESTED = "export_requested", _("Export requested")
    EXPORT_DOWNLOADED = "export_downloaded", _("Export downloaded")
    PURPOSE_DECIDED = "purpose_decided", _("Purpose decided")
    REFUSED = "refused", _("Access refused")


class DataAccessEvent(models.Model):
    """Append-only trail of every read of the additional information and every export step."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=24, choices=AccessKind.choices)
    export = models.ForeignKey("Export", null=True, blank=True, on_delete=models.PROTECT, related_name="events")
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.at:%Y-%m-%d %H:%M}"


class PurposeKind(models.TextChoices):
    """What the Personal Information Protection Act §28-2 allows pseudonymised data for."""

    RESEARCH = "research", _("Scientific research")
    STATISTICS = "statistics", _("Statistics")
    ARCHIVING = "archiving", _("Public-interest archiving")


class PurposeStatus(models.TextChoices):
    PENDING = "pending", _("Awaiting approval")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")


class Purpose(models.Model):
    kind = models.CharField(_("kind"), max_length=16, choices=PurposeKind.choices)
    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    status = models.CharField(_("status"), max_length=16, choices=PurposeStatus.choices, default=PurposeStatus.PENDING)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["title"]
        verbose_name = _("purpose")
        verbose_name_plural = _("purposes")

    def __str__(self) -> str:
        return self.title


class Cohort(models.Model):
    """A saved definition (data_platform.cohorts.CohortDefinition as JSON)."""

    name = models.CharField(_("name"), max_length=120)
    definition = models.JSONField(default=dict)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name


class ExportStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class Export(models.Model):
    """One export of a cohort; the row is also the audit record of purpose, reason and definition."""

    cohort = models.ForeignKey(Cohort, on_delete=models.PROTECT, related_name="exports")
    purpose = models.ForeignKey(Purpose, on_delete=models.PROTECT, related_name="exports")
    reason = models.TextField(_("reason"))
    definition = models.JSONField(default=dict)  # the cohort's definition when requested
    options = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=ExportStatus.choices, default=ExportStatus.QUEUED)
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    package_name = models.CharField(max_length=100, blank=True)
    package_sha256 = models.CharField(max_length=64, blank=True)
    error = models.CharField(max_length=300, blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]

    def __str__(self) -> str:
        return f"export {self.pk}"

    @property
    def percent(self) -> int:
        return int(100 * self.done / self.total) if self.total else (100 if self.status == ExportStatus.DONE else 0)
