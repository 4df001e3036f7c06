"""Objects whose pixels may carry burned-in text, and blanking them when a device rule exists.
Blanking is the one path that decodes pixel data; everything else copies it as bytes."""

from pydicom import Dataset
from pydicom.dataelem import DataElement
from pydicom.uid import UID, ExplicitVRLittleEndian

from dicomkit.deidentify.options import BlankingRule
from dicomkit.deidentify.raw_values import peek, peek_values

SECONDARY_CAPTURE_PREFIX = "1.2.840.10008.5.1.4.1.1.7"
# Encapsulated documents (PDF, CDA, STL, ...) and raw data carry content this profile cannot clean.
UNSUPPORTED_PREFIXES = ("1.2.840.10008.5.1.4.1.1.104.",)
RAW_DATA_STORAGE = "1.2.840.10008.5.1.4.1.1.66"


def unsupported_reason(dataset: Dataset) -> str:
    sop_class = peek(dataset, 0x00080016)
    if not sop_class:
        return "no SOP Class UID"
    if not sop_class.startswith("1.2.840.10008."):
        return f"private SOP class {sop_class}"
    if sop_class.startswith(UNSUPPORTED_PREFIXES) or sop_class == RAW_DATA_STORAGE:
        return f"SOP class {sop_class}"
    return ""


def burned_in_reason(dataset: Dataset) -> str:
    """Why the pixels may hold burned-in identifying text, or '' when they are not suspected."""
    if peek(dataset, 0x00280301).upper() == "YES":  # Burned In Annotation
        return "Burned In Annotation is YES"
    if peek(dataset, 0x00080060).upper() == "US":  # Modality
        return "ultrasound"
    if peek(dataset, 0x00080016).startswith(SECONDARY_CAPTURE_PREFIX):
        return "secondary capture"
    image_type = " ".join(peek_values(dataset, 0x00080008)).upper()
    if "SCREEN" in image_type or peek(dataset, 0x00080064).upper() == "WSD":  # Conversion Type
        return "screenshot"
    return ""


def blank_burned_in(source: Dataset, result: Dataset, rule: BlankingRule, transfer_syntax: str) -> str:
    """Zero the rule's rectangles in every frame of `result`; the pixels come back uncompressed, so
    the transfer syntax returned is the one to write with."""
    if "PixelData" not in source:
        return transfer_syntax
    pixels = source.pixel_array.copy()
    frames = pixels if int(source.get("NumberOfFrames", 1) or 1) > 1 else pixels[None, ...]
    rows, columns = int(source.Rows), int(source.Columns)
    for x0, y0, x1, y1 in rule.rectangles:
        frames[:, max(0, y0) : min(rows, y1), max(0, x0) : min(columns, x1), ...] = 0
    # A new element, not a new value: the source's may carry an encapsulated undefined length.
    vr = "OW" if int(source.get("BitsAllocated", 8)) > 8 else "OB"
    result[0x7FE00010] = DataElement(0x7FE00010, vr, pixels.tobytes())
    if UID(transfer_syntax).is_compressed:
        if int(source.get("SamplesPerPixel", 1)) == 3:
            result.PhotometricInterpretation = "RGB"
            result.PlanarConfiguration = 0
        return ExplicitVRLittleEndian
    return transfer_syntax
