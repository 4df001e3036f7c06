"""The last line of defence: every string value of a de-identified object is searched for Korean
resident registration numbers, phone numbers, e-mail addresses and the patient's own name."""

import re
from collections.abc import Iterable, Iterator
from datetime import date
from functools import lru_cache

from pydicom import Dataset
from pydicom.charset import convert_encodings, decode_bytes
from pydicom.datadict import dictionary_VR

# Raw values this package writes itself from a fixed table (the de-identification method code
# sequences it encodes once per option set): decoding them again per object would find nothing.
FIXED_RAW_VALUES: set[bytes] = set()
TEXT_VRS = frozenset({"AE", "AS", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UT", "UR"})

_RRN = re.compile(r"(?<!\d)(\d{6})[-\s]?([1-8]\d{6})(?!\d)")
# Seventh digit: 1-4 Korean citizens, 5-8 registered foreigners; odd male, even female.
_RRN_CENTURIES = {"1": 1900, "2": 1900, "3": 2000, "4": 2000, "5": 1900, "6": 1900, "7": 2000, "8": 2000}
# Mobile 010/011/016-019, Seoul 02, other areas 031-064, internet phones 070, with '-', '.', ' ' or
# nothing between the parts; optionally the +82 country code without the trunk 0.
_PHONE = re.compile(r"(?<![\d.])(?:\+82[-.\s]?|0)(?:1[016789]|2|[3-6][1-5]|70)[-.\s)]?\d{3,4}[-.\s]?\d{4}(?![\d.])")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# Delimiters that reset ISO 2022 escape sequences (PS3.5 6.1.2.5.3): '^', '=' and the value separator.
TEXT_DELIMITERS = {0x5C, 0x5E, 0x3D}
_HANGUL = re.compile(r"[\uac00-\ud7a3]")


def rrn_is_well_formed(front: str, back: str) -> bool:
    """True for a 13-digit resident registration number whose first six digits are a real birth date
    in the century its seventh digit (sex and century, 1-8) names. The check digit is not checked:
    numbers issued since October 2020 end in random digits, so a wrong check digit proves nothing."""
    century = _RRN_CENTURIES.get(back[0])
    if century is None:
        return False
    try:
        date(century + int(front[:2]), int(front[2:4]), int(front[4:6]))
    except ValueError:
        return False
    return True


def name_patterns(patient_names: Iterable[str]) -> list[re.Pattern[str]]:
    """The patterns text_hits searches for a patient's names (see _name_patterns)."""
    return list(_name_patterns(tuple(str(name) for name in patient_names)))


@lru_cache(maxsize=256)  # every object of a patient carries the same names
def _name_patterns(patient_names: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    """Every form a name may take: 'HONG^GILDONG', 'Hong Gildong', 'Gildong Hong', 'HONG,GILDONG',
    '홍길동', '홍 길동', and the given name alone (Korean family names are one syllable, too short
    to search for alone; a Latin family name is searched alone from four letters)."""
    forms: set[str] = set()
    for name in patient_names:
        for group in str(name).split("="):  # alphabetic=ideographic=phonetic
            parts = [part.strip() for part in group.split("^") if part.strip()]
            if not parts:
                continue
            family, given = parts[0], parts[1] if len(parts) > 1 else ""
            forms.add(" ".join(parts))
            if given:
                forms.update({f"{family} {given}", f"{given} {family}", f"{family}{given}"})
                forms.add(f"{family},{given}")
                if len(given) >= (2 if _HANGUL.search(given) else 3):
                    forms.add(given)
            if not _HANGUL.search(family) and len(family) >= 4:
                forms.add(family)
            if _HANGUL.search(group) and len(parts) == 1 and len(family) >= 3:
                forms.add(family[1:])  # '홍길동' written unsplit: the given name is the rest
    patterns = []
    for form in sorted(forms, key=len, reverse=True):
        words = [re.escape(word) for word in form.replace(",", " ").split()]
        separator = r"[\s^,]*" if "," in form else r"[\s^]+"
        body = separator.join(words)
        if _HANGUL.search(form):
            patterns.append(re.compile(body))
        else:
            patterns.append(re.compile(rf"(?<![^\W\d_]){body}(?![^\W\d_])", re.IGNORECASE))
    return tuple(patterns)


def text_hits(text: str, names: list[re.Pattern[str]]) -> list[str]:
    """The kinds of PHI found in one string (never the value itself)."""
    kinds = []
    if any(rrn_is_well_formed(m.group(1), m.group(2)) for m in _RRN.finditer(text)):
        kinds.append("resident_registration_number")
    if _PHONE.search(text):
        kinds.append("phone_number")
    if _EMAIL.search(text):
        kinds.append("email")
    if any(pattern.search(text) for pattern in names):
        kinds.append("patient_name")
    return kinds


def scan_for_phi(dataset: Dataset, *, patient_names: list[str]) -> list[str]:
    """Hits as 'tag path: kind' (e.g. '(0040,A730)[0]/(0040,A160): phone_number'); [] = clean."""
    names = name_patterns(patient_names)
    hits = []
    for path, text in _strings(dataset, ""):
        hits.extend(f"{path}: {kind}" for kind in text_hits(text, names))
    return hits


def _strings(dataset: Dataset, prefix: str) -> Iterator[tuple[str, str]]:
    # Raw (unconverted) elements are decoded straight from their bytes: converting every element
    # to a pydicom DataElement would cost more than the rest of de-identification.
    encodings = None
    elements = dataset._dict
    for tag in sorted(elements):
        element = elements[tag]
        if element.is_raw and element.value in FIXED_RAW_VALUES:
            continue
        vr = element.VR or _vr_of(tag)
        if vr == "SQ":
            path = _path(prefix, tag)
            for index, item in enumerate(dataset[tag].value):
                yield from _strings(item, f"{path}[{index}]/")
        elif vr in TEXT_VRS:
            if element.is_raw:
                value = element.value
                if not value:
                    continue
                if value.isascii() and b"\x1b" not in value:
                    yield _path(prefix, tag), value.decode("ascii")
                else:
                    if encodings is None:
                        encodings = _encodings(tuple(_as_list(dataset._character_set)))
                    yield _path(prefix, tag), decode_bytes(value, encodings, TEXT_DELIMITERS)
            elif element.value not in (None, ""):
                values = element.value if element.VM > 1 else [element.value]
                for value in values:
                    yield _path(prefix, tag), str(value)


def _path(prefix: str, tag: int) -> str:
    return f"{prefix}({tag >> 16:04X},{tag & 0xFFFF:04X})"


@lru_cache(maxsize=64)
def _encodings(character_set: tuple[str, ...]) -> list[str]:
    return convert_encodings(list(character_set))


def _as_list(value) -> list:
    return [value] if isinstance(value, str) else list(value or [])


@lru_cache(maxsize=4096)
def _vr_of(tag: int) -> str:
    try:
        return dictionary_VR(tag)
    except KeyError:
        return "UN"
