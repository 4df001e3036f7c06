import hashlib
import secrets

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone
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
    ACCOUNT_CHANGED = "account_changed", _("Account or configuration changed")  # 110136 Security Roles Changed
    AUDIT_LOG_VIEWED = "audit_log_viewed", _("Audit log viewed")  # 110101 Audit Log Used


# DICOM PS3.16 CID 400 (the IHE ATNA event IDs) for each action; a test keeps it complete.
ATNA_EVENT_CODES: dict[str, str] = {
    AuditAction.LOGIN: "110114",
    AuditAction.LOGIN_FAILED: "110114",
    AuditAction.LOGOUT: "110114",
    AuditAction.STUDY_VIEWED: "110103",
    AuditAction.STUDY_LIST_VIEWED: "110112",
    AuditAction.INSTANCES_IMPORTED: "110107",
    AuditAction.INSTANCE_REFUSED: "110107",
    AuditAction.PACS_QUERIED: "110112",
    AuditAction.ACCESS_DENIED: "110113",
    AuditAction.ASSOCIATION_REFUSED: "110113",
    AuditAction.STUDY_STATUS_CHANGED: "110110",
    AuditAction.STUDY_CLAIMED: "110110",
    AuditAction.STUDY_RELEASED: "110110",
    AuditAction.STUDY_REASSIGNED: "110110",
    AuditAction.AI_RESULT_RECEIVED: "110107",
    AuditAction.AI_RESULTS_VIEWED: "110103",
    AuditAction.FINDING_DECIDED: "110110",
    AuditAction.FINDING_ADDED: "110110",
    AuditAction.REPORT_VIEWED: "110103",
    AuditAction.REPORT_SAVED: "110110",
    AuditAction.REPORT_SIGNED: "110110",
    AuditAction.ADDENDUM_ADDED: "110110",
    AuditAction.REPORT_SENT: "110104",
    AuditAction.ACCOUNT_CHANGED: "110136",
    AuditAction.AUDIT_LOG_VIEWED: "110101",
}


class AuditEvent(models.Model):
    """Who did what, when, from where. Rows are only ever added (see accounts.audit)."""

    # Set by accounts.audit before the row hash is computed, so the hashed time is the stored one.
    at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    user = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # Kept beside the key so the trail still reads after a user is renamed.
    username = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=40, choices=AuditAction.choices, db_index=True)
    success = models.BooleanField(default=True)
    source = models.CharField(max_length=128, blank=True, help_text=_("IP address or calling AE title"))
    study_uid = models.CharField(max_length=64, blank=True, db_index=True)
    patient_ref = models.BigIntegerField(null=True, blank=True, help_text=_("Patient row, never the name"))
    detail = models.JSONField(default=dict, blank=True)
    # The hash chain (accounts.audit_chain): an edit made in SQL breaks it at the edited row.
    prev_hash = models.CharField(max_length=64, blank=True, editable=False)
    row_hash = models.CharField(max_length=64, blank=True, editable=False)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        indexes = [models.Index(fields=["user", "-at"], name="audit_user_at")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.username} {self.action}"

    @property
    def atna_code(self) -> str:
        """The IHE ATNA / DICOM CID 400 event ID of this action."""
        return ATNA_EVENT_CODES.get(self.action, "")


class AuditChainHead(models.Model):
    """The single row naming the newest audit event. Writers lock it, so the chain never forks,
    and the verifier compares it with the chain's end, so rows cut off the end show too."""

    last_event_id = models.BigIntegerField(null=True, blank=True)
    last_hash = models.CharField(max_length=64, blank=True)

    class Meta:
        verbose_name = _("audit chain head")

    def __str__(self) -> str:
        return f"audit chain head at row {self.last_event_id}"


class InvitationPurpose(models.TextChoices):
    INVITE = "invite", _("Invitation")
    PASSWORD_RESET = "password_reset", _("Password reset")


class Invitation(models.Model):
    """A one-time link with which a user sets their password; only the SHA-256 of its token is kept,
    and the link works once, before it expires (see accounts.invitations)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="invitations")
    purpose = models.CharField(_("purpose"), max_length=16, choices=InvitationPurpose.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"))
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")

    def __str__(self) -> str:
        return f"{self.purpose} {self.user_id}"


class ChannelLayerMessage(models.Model):
    """A group message of the embedded default's channel layer, kept a few minutes so that the other
    processes of the machine deliver it to their own sockets (accounts.database_layer)."""

    group = models.CharField(max_length=100)
    # JSON as text: read row by row, so that one garbled row is skipped on its own.
    message = models.TextField()
    # The sending process: it has delivered the message to its own sockets already.
    sender = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.group} message {self.pk}"
