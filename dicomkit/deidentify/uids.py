"""Deterministic UID remapping: a keyed hash under the 2.25 (UUID-derived) root."""

from functools import lru_cache

from dicomkit.deidentify.keys import Keys, keyed_digest

# Well-known UIDs (SOP classes, transfer syntaxes, coding schemes, context groups) live under the
# DICOM root; they identify kinds of things, never a patient, so they are kept.
DICOM_ROOT = "1.2.840.10008."


def remap_uid(uid: str, keys: Keys) -> str:
    """'2.25.' + the first 128 bits of HMAC(uid) as a decimal integer: at most 44 characters."""
    return _remap(uid.strip("\x00 "), keys.secret)


@lru_cache(maxsize=65536)
def _remap(uid: str, secret: bytes) -> str:
    digest = keyed_digest("uid", uid, Keys(secret))
    return f"2.25.{int.from_bytes(digest[:16], 'big')}"


def is_well_known(uid: str) -> bool:
    return uid.startswith(DICOM_ROOT)
