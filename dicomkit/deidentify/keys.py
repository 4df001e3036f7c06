"""The "additional information" (PIPA art. 28-4): the HMAC key and a patient's pseudonym and date
offset. Callers keep these apart from the export; nothing here stores them."""

import base64
import hashlib
import hmac
from dataclasses import dataclass

PSEUDONYM_LENGTH = 16


@dataclass(frozen=True)
class Keys:
    secret: bytes


@dataclass(frozen=True)
class PatientMapping:
    pseudonym: str
    date_offset_days: int


def keyed_digest(purpose: str, value: str, keys: Keys) -> bytes:
    """HMAC-SHA256 of `value`, domain-separated by `purpose` so a UID hash never equals a pseudonym."""
    return hmac.new(keys.secret, f"{purpose}\x00{value}".encode(), hashlib.sha256).digest()


def pseudonym_for(person_key: str, keys: Keys) -> str:
    """A short stable id for a person: 16 upper-case base32 characters (80 bits), fits SH and LO."""
    digest = keyed_digest("person", person_key, keys)
    return base64.b32encode(digest).decode()[:PSEUDONYM_LENGTH]
