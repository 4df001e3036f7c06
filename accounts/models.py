import hashlib
import secrets

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _


class Site(models.Model):
    """A hospital that sends images and whose studies a radiologist may read."""

    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=128)
    is_hub = models.BooleanField(_("reads for other sites"), default=False)

    class Meta:
        ordering = ["code"]
        verbose_name = _("site")
        verbose_name_plural = _("sites")

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    RADIOLOGIST = "radiologist", _("Radiologist")
    DEPARTMENT_HEAD = "department_head", _("Department head")
    ADMIN = "admin", _("Administrator")
    DATA_STEWARD = "data_steward", _("Data steward")
    AI_ENGINE = "ai_engine", _("AI engine")


class User(AbstractUser):
    role = models.CharField(_("role"), max_length=32, choices=Role.choices, default=Role.RADIOLOGIST)
    sites = models.ManyToManyField(Site, verbose_name=_("sites"), blank=True, related_name="members")
    # A hub radiologist or a department head of the province reads every site, present and future.
    all_sites = models.BooleanField(_("member of every site"), default=False)

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def site_ids(self) -> set[int] | None:
        """The sites this user may see, or None for every site."""
        if self.all_sites or self.role == Role.ADMIN:
            return None
        return set(self.sites.values_list("id", flat=True))


class ApiToken(models.Model):
    """A bearer token for a service account or a script; only its SHA-256 is kept."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(max_length=8, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def hash_key(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    @classmethod
    def issue(cls, *, user: User, name: str) -> tuple["ApiToken", str]:
        """Create a token and return it with the only copy of its secret."""
        key = secrets.token_urlsafe(32)
        token = cls.objects.create(user=user, name=name, prefix=key[:8], key_hash=cls.hash_key(key))
        return token, key


class AuditAction(models.TextChoices):
    """Actions audited, with the IHE ATNA / DICOM PS3.15 A.5 event codes where one fits."""

    LOGIN = "login", _("Login")  # 110114 User Authentication
    LOGIN_FAILED = "login_failed", _("Failed login")  # 110114
    LOGOUT = "logout", _("Logout")  # 110114
    STUDY_VIEWED = "study_viewed", _("Study viewed")  # 110103 Instances Accessed
    STUDY_LIST_VIEWED = "study_list_viewed", _("Study list viewed")  # 110112 Query
    INSTANCES_IMPORTED = "instances_imported", _("Instances imported")  # 110107 Import
    INSTANCE_REFUSED = "instance_refused", _("Instance refused")  # 110107, failure
    PACS_QUERIED = "pacs_queried", _("PACS queried")  # 110112
    ACCESS_DENIED = "access_denied", _("Access denied")  # 110113 Security Alert
    ASSOCIATION_REFUSED = "association_refused", _("DICOM association refused")  # 110113
    STUDY_STATUS_CHANGED = "study_status_changed", _("Study status changed")  # 110110 Patient Record
    STUDY_CLAIMED = "study_claimed", _("Study claimed")  # 110110
    STUDY_RELEASED = "study_released", _("Study released")  # 110110
    STUDY_REASSIGNED = "study_reassigned", _("Study reassigned")  # 110110
    AI_RESULT_RECEIVED = "ai_result_received", _("AI result received")  # 110107 Import
    AI_RESULTS_VIEWED = "ai_results_viewed", _("AI results viewed")  # 110103
    FINDING_DECIDED = "finding_decided", _("AI finding decided")  # 110110
    FINDING_ADDED = "finding_added", _("Finding added by the reader")  # 110110
    REPORT_VIEWED = "report_viewed", _("Report viewed")  # 110103
    REPORT_SAVED = "report_saved", _("Report saved")  # 110110
    REPORT_SIGNED = "report_signed", _("Report signed")  # 110110
    ADDENDUM_ADDED = "addendum_added", _("Addendum added")  # 110110
    REPORT_SENT = "report_sent", _("Report sent to the PACS")  # 110104 Transferred


class AuditEvent(models.Model):
    """Who did what, when, from where. Rows are only ever added (see accounts.audit)."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # Kept beside the key so the trail still reads after a user is renamed.
    username = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=40, choices=AuditAction.choices, db_index=True)
    success = models.BooleanField(default=True)
    source = models.CharField(max_length=128, blank=True, help_text=_("IP address or calling AE title"))
    study_uid = models.CharField(max_length=64, blank=True, db_index=True)
    patient_ref = models.BigIntegerField(null=True, blank=True, help_text=_("Patient row, never the name"))
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        indexes = [models.Index(fields=["user", "-at"], name="audit_user_at")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.username} {self.action}"
