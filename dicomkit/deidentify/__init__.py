"""De-identification of DICOM objects for export: PS3.15 Annex E Basic Application Level
Confidentiality Profile with the Retain Longitudinal Temporal Information with Modified Dates,
Retain Patient Characteristics, Clean Descriptors and Retain Safe Private options.

Plain Python (no Django). Built directly on pydicom rather than on dicognito or pydicom/deid:
neither links one patient across sites with a keyed pseudonym nor keeps unmodified elements as the
raw bytes they were read as, which is what lets this package run without decoding pixel data.

For export, deidentify_file(bytes or path, ...) -> file bytes is the fast way (about 3x dicognito,
bench/deidentify_bench.py): kept elements and pixel data are copied as bytes and explicit VR little
endian objects are encoded without dcmwrite (explicit_le.py). write_deidentified() and
deidentified_bytes() use the same encoder for a Dataset returned by deidentify().
"""

from dicomkit.deidentify.apply import deidentify
from dicomkit.deidentify.errors import Excluded
from dicomkit.deidentify.files import deidentify_file
from dicomkit.deidentify.keys import Keys, PatientMapping, pseudonym_for
from dicomkit.deidentify.options import DEFAULT_SAFE_PRIVATE_TAGS, BlankingRule, Options
from dicomkit.deidentify.phi_scan import scan_for_phi
from dicomkit.deidentify.series_checks import series_problems
from dicomkit.deidentify.uids import remap_uid
from dicomkit.deidentify.writing import deidentified_bytes, write_deidentified

__all__ = [
    "DEFAULT_SAFE_PRIVATE_TAGS",
    "BlankingRule",
    "Excluded",
    "Keys",
    "Options",
    "PatientMapping",
    "deidentified_bytes",
    "deidentify",
    "deidentify_file",
    "pseudonym_for",
    "remap_uid",
    "scan_for_phi",
    "series_problems",
    "write_deidentified",
]
