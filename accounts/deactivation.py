"""Deactivating a user ends everything they have open at once: their sessions, their API tokens and
their WebSockets (closed through accounts.user_sockets.disconnect_user after the commit). Reactivating gives
back the account, not the sessions or the tokens: they sign in again, an engine gets a new token."""

from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.models import Session
from django.db import transaction
from django.utils import timezone

from accounts import audit
from accounts.models import ApiToken, AuditAction, User
from accounts.user_sockets import disconnect_user


def deactivate_user(*, user: User, by: User, source: str = "") -> None:
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(is_active=False)
        user.is_active = False
        end_sessions(user)
        revoked = ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())
        audit.record(
            action=AuditAction.ACCOUNT_CHANGED,
            user=by,
            source=source,
            detail={"change": "deactivated", "user_id": user.pk, "tokens_revoked": revoked},
        )
        _disconnect_sockets(user.pk)


def reactivate_user(*, user: User, by: User, source: str = "") -> None:
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(is_active=True)
        user.is_active = True
        audit.record(
            action=AuditAction.ACCOUNT_CHANGED,
            user=by,
            source=source,
            detail={"change": "reactivated", "user_id": user.pk},
        )


def end_sessions(user: User) -> int:
    """Delete the user's sessions from the database session store; returns how many."""
    # Sessions are opaque rows, so each live one is decoded; a hospital has thousands, not millions.
    ids = [
        session.pk
        for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator()
        if session.get_decoded().get(SESSION_KEY) == str(user.pk)
    ]
    Session.objects.filter(pk__in=ids).delete()
    return len(ids)


def _disconnect_sockets(user_id: int) -> None:
    disconnect_user(user_id)  # after the commit


def change_access(*, user: User, by: User, role: str, site_ids: set[int], all_sites: bool, source: str = "") -> None:
    """Set role and sites; a user who loses any access has their sockets closed, so they reconnect
    and subscribe again with what they may still see."""
    with transaction.atomic():
        before_sites = set(user.sites.values_list("id", flat=True))
        narrowed = (user.role != role) or (user.all_sites and not all_sites) or bool(before_sites - site_ids)
        User.objects.filter(pk=user.pk).update(role=role, all_sites=all_sites)
        user.role, user.all_sites = role, all_sites
        user.sites.set(site_ids)
        audit.record(
            action=AuditAction.ACCOUNT_CHANGED,
            user=by,
            source=source,
            detail={
                "change": "access",
                "user_id": user.pk,
                "role": role,
                "sites": sorted(site_ids),
                "all_sites": all_sites,
            },
        )
        if narrowed:
            _disconnect_sockets(user.pk)
