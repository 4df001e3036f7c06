"""One-time links with which a new user sets their first password, or a user a new one. The link
carries a random token; only its SHA-256 is stored, so the link is shown to the admin once and
cannot be read back. A link works once, before it expires; a newer link for the same user voids
the older ones."""

import hashlib
import secrets
from datetime import timedelta

from django.contrib.auth.password_validation import validate_password
from django.db import transaction
from django.utils import timezone

from accounts import audit
from accounts.models import AuditAction, Invitation, InvitationPurpose, User

LINK_VALID_FOR = timedelta(days=3)


class InvitationInvalid(Exception):
    """The link is unknown, used or expired; the page says so without telling which."""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_link(*, user: User, created_by: User | None, purpose: InvitationPurpose, source: str = "") -> str:
    """Void the user's open links and return the token of a new one (its only copy)."""
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    with transaction.atomic():
        Invitation.objects.filter(user=user, used_at__isnull=True).update(expires_at=now)
        Invitation.objects.create(
            user=user, purpose=purpose, token_hash=_hash(token), created_by=created_by, expires_at=now + LINK_VALID_FOR
        )
        audit.record(
            action=AuditAction.ACCOUNT_CHANGED,
            user=created_by,
            source=source,
            detail={"change": f"{purpose}_link_issued", "user_id": user.pk},
        )
    return token


def open_invitation(token: str) -> Invitation:
    invitation = (
        Invitation.objects.select_related("user")
        .filter(token_hash=_hash(token), used_at__isnull=True, expires_at__gt=timezone.now())
        .first()
    )
    if invitation is None or not invitation.user.is_active:
        raise InvitationInvalid
    return invitation


def redeem(*, token: str, password: str, source: str = "") -> User:
    """Set the password and use up the link; the password rules raise ValidationError first."""
    with transaction.atomic():
        invitation = open_invitation(token)
        # A conditional update so two tabs posting the same link at once cannot both win.
        if not Invitation.objects.filter(pk=invitation.pk, used_at__isnull=True).update(used_at=timezone.now()):
            raise InvitationInvalid
        user = invitation.user
        validate_password(password, user)
        user.set_password(password)
        user.save(update_fields=["password"])
        audit.record(
            action=AuditAction.ACCOUNT_CHANGED,
            user=user,
            source=source,
            detail={"change": "password_set", "purpose": invitation.purpose},
        )
    return user
