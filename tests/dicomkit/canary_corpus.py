"""The canary corpus: a PHI canary planted in every attribute of PS3.15 Table E.1-1 that a dataset
can hold (a unique string per attribute, a canary date, a canary UID), in nested sequences, private
tags with and without a Private Creator, overlays and curves, SR content and a Korean name. After
de-identification no canary may survive in any byte of the written file."""

import io

from pydicom import Dataset, dcmread
from pydicom.datadict import dictionary_VR
from pydicom.sequence import Sequence

from dicomkit.deidentify import profile
from dicomkit.synthetic import chest_ct

CANARY_PREFIX = "CNRY"
CANARY_DATE = "19310417"
CANARY_UID_ROOT = "1.2.826.0.1.3680043.10.999."
KOREAN_FAMILY, KOREAN_GIVEN = "홍", "길동"
LATIN_NAME = "Hong^Gildong"
KOREAN_NAME = f"{LATIN_NAME}=洪^吉洞={KOREAN_FAMILY}^{KOREAN_GIVEN}"
KOREAN_CHARSET = ["", "ISO 2022 IR 149"]
SAFE_B_VALUE = b"1000"

_TEXT_VRS = {"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UT", "UR"}
_BINARY_VRS = {"OB", "OW", "UN", "OB or OW"}
# Groups a stored object cannot hold (command, file meta, DICOMDIR, signatures and padding).
_NOT_IN_DATASETS = {0x0000, 0x0002, 0x0004, 0xFFFA, 0xFFFC}


class Canaries:
    """Hands out unique canary values and remembers every one for the grep."""

    def __init__(self):
        self.values: list[str] = [CANARY_DATE, KOREAN_GIVEN, "Gildong", "吉洞"]

    def text(self, vr: str) -> str:
        value = f"{CANARY_PREFIX}{len(self.values):04d}"
        self.values.append(value)
        return value if vr != "PN" else f"{value}^{value}X"

    def uid(self) -> str:
        value = f"{CANARY_UID_ROOT}{len(self.values)}"
        self.values.append(value)
        return value

    def code_item(self) -> Dataset:
        item = Dataset()
        item.CodeValue = self.text("SH")
        item.CodingSchemeDesignator = "99CNRY"
        item.CodeMeaning = self.text("LO")
        return item


def _plant(dataset: Dataset, tag: int, canaries: Canaries) -> None:
    vr = dictionary_VR(tag).split(" or ")[0] if dictionary_VR(tag) != "OB or OW" else "OB"
    if vr in _TEXT_VRS:
        value = canaries.text(vr)
        dataset.add_new(tag, vr, value[:16] if vr in ("AE", "CS", "SH") else value)
    elif vr == "DA":
        dataset.add_new(tag, vr, CANARY_DATE)
    elif vr == "DT":
        dataset.add_new(tag, vr, CANARY_DATE + "093000")
    elif vr == "UI":
        dataset.add_new(tag, vr, canaries.uid())
    elif vr == "SQ":
        dataset.add_new(tag, vr, Sequence([canaries.code_item()]))
    elif vr in _BINARY_VRS:
        dataset.add_new(tag, vr, canaries.text("LO").encode())
    # Numbers, times (kept by the dates option) and ages (kept as a patient characteristic) cannot
    # carry a findable canary.


def canary_dataset(*, seed: int = 3) -> tuple[Dataset, Canaries]:
    """A small CT instance carrying every canary; returned as read back from its file bytes."""
    canaries = Canaries()
    dataset = chest_ct(slices=2, size=32, seed=seed, nodule_count=0).datasets[0]
    keep = {profile.PATIENT_NAME, 0x00080016, 0x00080018, 0x0020000D, 0x0020000E, 0x00080020}
    for tag in sorted(profile.TABLE_E1_1):
        if tag >> 16 in _NOT_IN_DATASETS or tag in keep or tag in profile.PATIENT_CHARACTERISTICS:
            continue
        if tag in (0x00081140, 0x00082112, profile.CONTENT_SEQUENCE, 0x00400275):
            continue  # planted below with realistic structure
        _plant(dataset, tag, canaries)
    for keyword in ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID"):
        setattr(dataset, keyword, canaries.uid())
    dataset.StudyDate = CANARY_DATE
    dataset.SpecificCharacterSet = KOREAN_CHARSET
    dataset.PatientName = KOREAN_NAME
    dataset.OtherPatientNames = [f"{KOREAN_FAMILY}{KOREAN_GIVEN}"]
    dataset.PatientAge = "064Y"
    dataset.PatientSex = "M"
    _plant_nested(dataset, canaries)
    _plant_private_and_overlays(dataset, canaries)
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return dcmread(io.BytesIO(buffer.getvalue())), canaries


def _plant_nested(dataset: Dataset, canaries: Canaries) -> None:
    reference = Dataset()
    reference.ReferencedSOPClassUID = dataset.SOPClassUID
    reference.ReferencedSOPInstanceUID = canaries.uid()
    reference.PatientName = canaries.text("PN")  # the profile applies inside items too
    reference.InstitutionName = canaries.text("LO")
    reference.ContentDate = CANARY_DATE
    dataset.ReferencedImageSequence = [reference]
    source = Dataset()
    source.ReferencedSOPClassUID = dataset.SOPClassUID
    source.ReferencedSOPInstanceUID = canaries.uid()
    source.PurposeOfReferenceCodeSequence = [_code("121322", "DCM", "Source of image processing")]
    source.PurposeOfReferenceCodeSequence[0].PatientComments = canaries.text("LT")
    dataset.SourceImageSequence = [source]
    request = Dataset()
    request.RequestedProcedureID = canaries.text("SH")
    request.ScheduledProcedureStepID = canaries.text("SH")
    request.ReasonForTheRequestedProcedure = canaries.text("LO")
    dataset.RequestAttributesSequence = [request]
    anatomy = canaries.code_item()  # a sequence the table does not list: cleaned inside
    anatomy.CodeValue, anatomy.CodingSchemeDesignator, anatomy.CodeMeaning = "39607008", "SCT", "Lung"
    anatomy.OperatorsName = canaries.text("PN")
    anatomy.AccessionNumber = canaries.text("SH")
    dataset.AnatomicRegionSequence = [anatomy]
    dataset.ContentSequence = _sr_content(canaries)


def _sr_content(canaries: Canaries) -> list[Dataset]:
    text = Dataset()
    text.RelationshipType, text.ValueType = "CONTAINS", "TEXT"
    text.ConceptNameCodeSequence = [_code("121071", "DCM", "Finding")]
    text.TextValue = f"{canaries.text('UT')} seen by Dr {canaries.text('UT')} call 010-1234-5678"
    person = Dataset()
    person.RelationshipType, person.ValueType = "HAS OBS CONTEXT", "PNAME"
    person.ConceptNameCodeSequence = [_code("121008", "DCM", "Person Observer Name")]
    person.PersonName = canaries.text("PN")
    when = Dataset()
    when.RelationshipType, when.ValueType = "HAS OBS CONTEXT", "DATETIME"
    when.ConceptNameCodeSequence = [_code("111526", "DCM", "DateTime Started")]
    when.DateTime = CANARY_DATE + "101500"
    uid = Dataset()
    uid.RelationshipType, uid.ValueType = "HAS OBS CONTEXT", "UIDREF"
    uid.ConceptNameCodeSequence = [_code("121018", "DCM", "Procedure Study Instance UID")]
    uid.UID = canaries.uid()
    return [text, person, when, uid]


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def _plant_private_and_overlays(dataset: Dataset, canaries: Canaries) -> None:
    dataset.add_new(0x00110010, "LO", "CANARY CORP")
    dataset.add_new(0x00111001, "LO", canaries.text("LO"))
    dataset.add_new(0x00111002, "UN", canaries.text("LO").encode())
    dataset.add_new(0x00131001, "LO", canaries.text("LO"))  # no Private Creator at all
    dataset.add_new(0x00190010, "LO", "SIEMENS MR HEADER")
    dataset.add_new(0x0019100C, "IS", SAFE_B_VALUE.decode())
    dataset.add_new(0x00191010, "LO", canaries.text("LO"))  # same creator, not on the safe list
    dataset.add_new(0x60000010, "US", 32)
    dataset.add_new(0x60000011, "US", 32)
    dataset.add_new(0x60000022, "LO", canaries.text("LO"))  # Overlay Description
    dataset.add_new(0x60003000, "OW", canaries.text("LO").encode() * 16)
    dataset.add_new(0x60004000, "LT", canaries.text("LT"))
    dataset.add_new(0x50003000, "OW", canaries.text("LO").encode() * 2)


def byte_forms(value: str) -> list[bytes]:
    """How a canary can appear in a file: UTF-8, and for Korean text the KS X 1001 bytes that
    ISO 2022 IR 149 writes (after its escape sequence, so the escape is not part of the search)."""
    forms = [value.encode("utf-8")]
    try:
        korean = value.encode("euc_kr")
    except UnicodeEncodeError:
        korean = b""
    if korean and korean not in forms:
        forms.append(korean)
    return forms
