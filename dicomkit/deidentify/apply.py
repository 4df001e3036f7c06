"""Applying the profile: one pass over the elements, recursing into sequences.

Elements kept unchanged are copied as the raw bytes pydicom read (never converted), so pixel data is
never decoded and writing them back costs a memory copy. New ASCII values of an explicit VR little
endian object are made as raw elements too, so explicit_le.py writes nearly every element as bytes."""

from dataclasses import dataclass
from functools import lru_cache

from pydicom import Dataset, Sequence
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import FileMetaDataset
from pydicom.multival import MultiValue
from pydicom.tag import BaseTag
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian

from dicomkit.deidentify import profile
from dicomkit.deidentify.dates import age_between, shift_date, shift_datetime
from dicomkit.deidentify.descriptors import clean_descriptor
from dicomkit.deidentify.errors import Excluded
from dicomkit.deidentify.explicit_le import encode_dataset, raw_element
from dicomkit.deidentify.keys import Keys, PatientMapping
from dicomkit.deidentify.options import Options
from dicomkit.deidentify.phi_scan import FIXED_RAW_VALUES, scan_for_phi
from dicomkit.deidentify.pixels import blank_burned_in, burned_in_reason, unsupported_reason
from dicomkit.deidentify.raw_values import peek_values
from dicomkit.deidentify.uids import is_well_known, remap_uid

_DUMMY = {"PN": "ANONYMOUS", "AE": "ANONYMOUS", "CS": "ANONYMOUS", "SH": "DEIDENTIFIED"}
_STRING_VRS = frozenset({"AE", "AS", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UT", "UR"})
_BINARY_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})
_METHOD_CODES = {
    "113100": "Basic Application Confidentiality Profile",
    "113101": "Clean Pixel Data Option",
    "113105": "Clean Descriptors Option",
    "113107": "Retain Longitudinal Temporal Information Modified Dates Option",
    "113108": "Retain Patient Characteristics Option",
    "113111": "Retain Safe Private Option",
}
IMPLEMENTATION_VERSION_NAME = "DICOMKIT_DEID1"


@dataclass(frozen=True)
class _Run:
    keys: Keys
    patient: PatientMapping
    options: Options
    site_pseudonym: str
    raw: bool  # the source is explicit VR little endian: new ASCII values are made as raw bytes


def deidentify(
    dataset: Dataset,
    *,
    keys: Keys,
    patient: PatientMapping,
    options: Options,
    site_pseudonym: str = "",
) -> Dataset:
    """A new, de-identified dataset (with file meta) for `dataset`; raises Excluded when the object
    may not be exported. `dataset` itself is left untouched."""
    reason = unsupported_reason(dataset)
    if reason:
        raise Excluded("unsupported_sop_class", reason)
    blanking = None
    reason = burned_in_reason(dataset)
    if reason:
        blanking = next(
            (
                rule
                for rule in options.blanking_rules
                if rule.matches(str(dataset.get("Manufacturer", "")), str(dataset.get("ManufacturerModelName", "")))
            ),
            None,
        )
        if blanking is None:
            raise Excluded("burned_in_annotation", reason)

    run = _Run(keys, patient, options, site_pseudonym, raw=dataset.original_encoding == (False, True))
    result = _new_item(dataset)
    _copy_item(dataset, result, run)
    source_meta = getattr(dataset, "file_meta", None)
    transfer_syntax = source_meta.get("TransferSyntaxUID") if source_meta else None
    transfer_syntax = transfer_syntax or ExplicitVRLittleEndian
    if blanking is not None:
        transfer_syntax = blank_burned_in(dataset, result, blanking, transfer_syntax)
    _add_identity_removed(dataset, result, run, pixels_cleaned=blanking is not None)
    result.file_meta = _file_meta(result, transfer_syntax)

    hits = scan_for_phi(result, patient_names=_names_of(dataset))
    if hits:
        raise Excluded("phi_found", "; ".join(hits))
    return result


def _new_item(source: Dataset) -> Dataset:
    """An empty dataset that claims the source's encoding, so pydicom writes raw elements as is."""
    item = Dataset()
    implicit, little = source.original_encoding
    if implicit is not None and little is not None:
        item.set_original_encoding(implicit, little, source.original_character_set)
    return item


def _copy_item(source: Dataset, target: Dataset, run: _Run) -> None:
    # Dataset._dict is read and filled directly: going through get_item/__setitem__ costs more per
    # element than everything else here, and the values stay the RawDataElements pydicom read.
    elements, kept = source._dict, target._dict
    private_kept: set[tuple[int, int]] = set()
    for tag, raw in elements.items():
        group, element = tag >> 16, tag & 0xFFFF
        if group % 2:
            if element >= 0x1000 and _safe_private(source, group, element, run.options):
                kept[tag] = raw
                private_kept.add((group, element >> 8))
            continue
        if element == 0 or group == 0x0002 or profile.is_overlay_or_curve(tag):
            continue
        vr = raw.VR or _vr_of(tag)
        action = _action(int(tag), vr, run.options)  # a plain int: BaseTag compares in Python
        if action == "K":
            kept[tag] = raw
        elif action != "X":
            _apply(source, target, tag, vr, action, run)
    for group, block in private_kept:  # keep the Private Creator of every kept private element
        creator = BaseTag((group << 16) | block)
        kept[creator] = elements[creator]


def _action(tag: int, vr: str, options: Options) -> str:
    if tag == profile.PATIENT_NAME or tag == profile.PATIENT_ID:
        return "P"
    if options.retain_patient_characteristics and tag in profile.PATIENT_CHARACTERISTICS:
        return "K"
    if tag in profile.DESCRIPTORS:
        return "C" if options.clean_descriptors else "X"
    if options.retain_longitudinal_modified_dates and tag not in profile.NOT_SHIFTED:
        if vr in ("DA", "DT"):
            return "S"
        if vr == "TM":
            return "K"
    action = profile.LOCAL_ACTIONS.get(tag) or profile.TABLE_E1_1.get(tag)
    if action is not None:
        return action
    if vr == "UI":
        return "U"
    if vr == "SQ":
        return "R"
    return "K"


def _apply(source: Dataset, target: Dataset, tag: int, vr: str, action: str, run: _Run) -> None:
    if vr == "SQ":
        # A dummy sequence is an empty one; only SR content is kept as a cleaned structure.
        if action == "Z" or (action == "D" and tag != profile.CONTENT_SEQUENCE):
            target[tag] = DataElement(tag, "SQ", Sequence())
        else:
            target[tag] = DataElement(tag, "SQ", _copy_sequence(source[tag].value, tag, run))
        return
    if action == "P":
        _put(target, tag, vr, [run.patient.pseudonym], run)
    elif action == "S":
        _put(target, tag, vr, _shift(peek_values(source, tag), vr, run.patient.date_offset_days), run)
    elif action == "U":
        _put(target, tag, "UI", _remap_values(peek_values(source, tag), tag, run.keys), run)
    elif action == "C":
        cleaned = clean_descriptor(_text(source, tag, run))
        if cleaned is not None:
            _put(target, tag, vr, [cleaned], run)
    elif action == "Z":
        _put(target, tag, vr, [], run)
    elif action == "D":
        if tag == profile.INSTITUTION_NAME and run.site_pseudonym:
            _put(target, tag, vr, [run.site_pseudonym], run)
        elif vr in _STRING_VRS:
            _put(target, tag, vr, [_DUMMY.get(vr, "DEIDENTIFIED")], run)
        elif vr in ("DA", "DT", "TM"):
            _put(target, tag, vr, [{"DA": "19000101", "DT": "19000101", "TM": "000000"}[vr]], run)
        elif vr not in _BINARY_VRS:
            _put(target, tag, vr, [], run)


def _put(target: Dataset, tag: int, vr: str, values: list[str], run: _Run) -> None:
    """A new element; ASCII values of an explicit VR little endian object become raw bytes, which
    the writer copies without pydicom's per-value conversion and validation."""
    if run.raw and all(value.isascii() for value in values):
        target._dict[BaseTag(tag)] = raw_element(tag, vr, "\\".join(values).encode("ascii"))
    else:
        target[tag] = DataElement(tag, vr, (values if len(values) > 1 else values[0]) if values else None)


def _text(source: Dataset, tag: int, run: _Run) -> str:
    raw = source._dict[tag]
    if raw.is_raw and run.raw and raw.value is not None and raw.value.isascii() and b"\x1b" not in raw.value:
        return raw.value.decode("ascii").strip("\x00 ")
    return str(source[tag].value or "")


def _copy_sequence(items: Sequence, tag: int, run: _Run) -> Sequence:
    copied = []
    for item in items:
        if tag == profile.CONTENT_SEQUENCE and str(item.get("ValueType", "")) == "TEXT":
            continue  # SR free text is dropped; labels leave the platform as their own JSON
        new = _new_item(item)
        _copy_item(item, new, run)
        copied.append(new)
    return Sequence(copied)


def _shift(values: list[str], vr: str, days: int) -> list[str]:
    shift = shift_date if vr == "DA" else shift_datetime
    return [moved for moved in (shift(value, days) for value in values) if moved]


def _remap_values(values: list[str], tag: int, keys: Keys) -> list[str]:
    keep = tag in profile.STRUCTURAL_UIDS
    return [uid if keep or is_well_known(uid) else remap_uid(uid, keys) for uid in values]


def _safe_private(source: Dataset, group: int, element: int, options: Options) -> bool:
    creator = source.get((group << 16) | (element >> 8))
    if creator is None or not creator.value:
        return False  # a private element without its Private Creator cannot be identified
    return (group, str(creator.value).strip(), element & 0xFF) in options.safe_private_tags


def _as_list(value) -> list:
    if value is None or value == "":
        return []
    if isinstance(value, list | MultiValue):
        return list(value)
    return [value]


_VR_CACHE: dict[int, str] = {}


def _vr_of(tag: int) -> str:
    vr = _VR_CACHE.get(tag)
    if vr is None:
        try:
            vr = dictionary_VR(tag)
        except KeyError:
            vr = "UN"
        _VR_CACHE[tag] = vr
    return vr


def _add_identity_removed(source: Dataset, result: Dataset, run: _Run, *, pixels_cleaned: bool) -> None:
    options = run.options
    codes = ["113100"]
    if pixels_cleaned:
        codes.append("113101")
    if options.clean_descriptors:
        codes.append("113105")
    if options.retain_longitudinal_modified_dates:
        codes.append("113107")
        _put(result, 0x00280303, "CS", ["MODIFIED"], run)  # Longitudinal Temporal Information Modified
    if options.retain_patient_characteristics:
        codes.append("113108")
        if 0x00101010 not in result._dict:  # Patient's Age
            study_date = str(source.get("StudyDate", "") or source.get("ContentDate", "") or "")
            age = age_between(str(source.get("PatientBirthDate", "") or ""), study_date)
            if age:
                _put(result, 0x00101010, "AS", [age], run)
    if options.safe_private_tags:
        codes.append("113111")
    _put(result, 0x00120062, "CS", ["YES"], run)  # Patient Identity Removed
    _put(result, 0x00120063, "LO", [_METHOD_CODES[code][:64] for code in codes], run)
    if run.raw:
        result._dict[BaseTag(0x00120064)] = _method_code_sequence(tuple(codes))
    else:
        result.DeidentificationMethodCodeSequence = _method_code_items(codes)
    if pixels_cleaned:
        _put(result, 0x00280301, "CS", ["NO"], run)  # Burned In Annotation


def _method_code_items(codes: list[str]) -> list[Dataset]:
    items = []
    for code in codes:
        item = Dataset()
        item.CodeValue = code
        item.CodingSchemeDesignator = "DCM"
        item.CodeMeaning = _METHOD_CODES[code]
        items.append(item)
    return items


@lru_cache(maxsize=64)
def _method_code_sequence(codes: tuple[str, ...]) -> RawDataElement:
    """De-identification Method Code Sequence as raw explicit VR LE bytes: the same for every object
    of an export, so encoded once (a RawDataElement is immutable, so sharing it is safe)."""
    element = DataElement(0x00120064, "SQ", Sequence(_method_code_items(list(codes))))
    holder = Dataset()
    holder[0x00120064] = element
    encoded = b"".join(encode_dataset(holder))
    value = encoded[12:]  # after the tag, VR, reserved bytes and length
    FIXED_RAW_VALUES.add(value)
    return RawDataElement(BaseTag(0x00120064), "SQ", len(value), value, 0, False, True)


def _file_meta(result: Dataset, transfer_syntax: str) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = peek_values(result, 0x00080016)[0]
    meta.MediaStorageSOPInstanceUID = peek_values(result, 0x00080018)[0]
    meta.TransferSyntaxUID = transfer_syntax
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    return meta


def _names_of(dataset: Dataset) -> list[str]:
    names = []
    for keyword in ("PatientName", "OtherPatientNames", "PatientBirthName"):
        value = dataset.get(keyword)
        if value:
            names.extend(str(name) for name in _as_list(value))
    return names
