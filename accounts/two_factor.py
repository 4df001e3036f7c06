"""TOTP second factor (django-otp): who must pass it, enrolment, and the guard that keeps a session
signed in some other way (the Django admin's own login page) from skipping it."""

from base64 import b32encode

import segno
from django.conf import settings
from django.contrib import auth
from django.shortcuts import redirect
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User


def role_requires(user: User) -> bool:
    return user.role in settings.OTP_REQUIRED_ROLES


def required_for(user: User) -> bool:
    """A role listed in OTP_REQUIRED_ROLES must pass it; so must anyone who enrolled of their own accord."""
    return role_requires(user) or confirmed_device(user) is not None


def confirmed_device(user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("id").first()


def enrolment_device(user: User) -> TOTPDevice:
    """The unconfirmed device being enrolled: the same secret until it is confirmed, so a reload of
    the enrolment page does not invalidate the QR code the user has just scanned."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("id").first()
    return device or TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)


def qr_code_data_uri(device: TOTPDevice) -> str:
    # An SVG data URI for <img src>: the CSP allows data: images and no inline script or style.
    return segno.make(device.config_url, error="m").svg_data_uri(scale=5, border=2)


def secret_for_typing(device: TOTPDevice) -> str:
    """The base32 secret in groups of four, for an authenticator that cannot scan."""
    secret = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[index : index + 4] for index in range(0, len(secret), 4))


def confirm(device: TOTPDevice, token: str) -> bool:
    """Check a token (django-otp throttles repeated failures per device) and confirm the device."""
    token = "".join(token.split())
    if not (token.isdigit() and len(token) == device.digits) or not device.verify_token(token):
        return False
    if not device.confirmed:
        device.confirmed = True
        device.save(update_fields=["confirmed"])
    return True


class TwoFactorRequiredMiddleware:
    """Ends a session whose role must pass the second factor and has not: our login view never
    creates one, but the Django admin's login page would (it admits staff, who are admins). By role
    alone, so that no request pays a query for it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if user.is_authenticated and role_requires(user) and not user.is_verified():
            auth.logout(request)
            return redirect(settings.LOGIN_URL)
        return self.get_response(request)
