"""The HMAC key and the per-person date offsets: the "additional information" of 개인정보 보호법
§28-4. Read only through these functions, each of which writes a DataAccessEvent; the export job
uses them on behalf of the steward who asked, and only key custodians may read the key table."""

import hashlib
import secrets

from django.db import transaction

from accounts import audit
from accounts.models import AuditAction, Role, User
from data_platform.models import AccessKind, DataAccessEvent, DateOffset, Export, IdentityKey, KeyCustodian, Person
from dicomkit.deidentify import Keys, PatientMapping, pseudonym_for

# Dates move back between one and six years: far enough to hide the real date, near enough that
# seasons and ages stay plausible.
OFFSET_MIN_DAYS, OFFSET_SPAN_DAYS = 365, 5 * 365


class KeyAccessRefused(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def keys_for_export(export: Export) -> Keys:
    """The active key, for one export by a data steward; audited against that export."""
    if export.requested_by.role != Role.DATA_STEWARD or not export.requested_by.is_active:
        _refuse(export.requested_by, "export_key_read")
    with transaction.atomic():
        key = _active_key()
        DataAccessEvent.objects.create(
            user=export.requested_by, kind=AccessKind.KEY_READ, export=export, detail={"key": key.pk}
        )
    return Keys(secret=bytes(key.secret))


def mapping_for(person: Person, *, keys: Keys, export: Export) -> PatientMapping:
    """Pseudonym and date offset of one person for one export; audited."""
    with transaction.atomic():
        offset, _created = DateOffset.objects.get_or_create(
            person=person, defaults={"days": -(OFFSET_MIN_DAYS + secrets.randbelow(OFFSET_SPAN_DAYS))}
        )
        DataAccessEvent.objects.create(
            user=export.requested_by, kind=AccessKind.OFFSETS_READ, export=export, detail={"person": person.pk}
        )
    return PatientMapping(pseudonym=pseudonym_for(person.key, keys), date_offset_days=offset.days)


def read_key_table(user: User) -> list[dict]:
    """What a key custodian sees of the keys: fingerprints, never the secret; refused to anyone else."""
    if not is_key_custodian(user):
        _refuse(user, "key_table_read")
    with transaction.atomic():
        _active_key()
        rows = [
            {
                "id": key.pk,
                "fingerprint": fingerprint(bytes(key.secret)),
                "active": key.active,
                "created_at": key.created_at,
            }
            for key in IdentityKey.objects.order_by("-created_at")
        ]
        DataAccessEvent.objects.create(user=user, kind=AccessKind.KEY_READ, detail={"table": True})
    return rows


def is_key_custodian(user: User) -> bool:
    return bool(
        user.is_authenticated
        and user.is_active
        and user.role == Role.DATA_STEWARD
        and KeyCustodian.objects.filter(user=user).exists()
    )


def fingerprint(secret: bytes) -> str:
    return hashlib.sha256(secret).hexdigest()[:12]


def _active_key() -> IdentityKey:
    key = IdentityKey.objects.select_for_update().filter(active=True).order_by("-created_at").first()
    if key is None:
        key = IdentityKey.objects.create(secret=secrets.token_bytes(32), active=True)
    return key


def _refuse(user: User, what: str) -> None:
    with transaction.atomic():
        DataAccessEvent.objects.create(
            user=user if user.is_authenticated else None, kind=AccessKind.REFUSED, detail={"what": what}
        )
        audit.record(action=AuditAction.ACCESS_DENIED, user=user, success=False, detail={"action": what})
    raise KeyAccessRefused(what)
