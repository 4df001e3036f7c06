"""De-identifying a DICOM file's bytes in one call: read, apply the profile, encode."""

import io
from pathlib import Path

from pydicom import dcmread

from dicomkit.deidentify.apply import deidentify
from dicomkit.deidentify.keys import Keys, PatientMapping
from dicomkit.deidentify.options import Options
from dicomkit.deidentify.writing import deidentified_bytes


def deidentify_file(
    source: bytes | str | Path,
    *,
    keys: Keys,
    patient: PatientMapping,
    options: Options,
    site_pseudonym: str = "",
) -> bytes:
    """The de-identified file bytes of a DICOM file (its bytes or its path); raises Excluded.
    The same bytes as write_deidentified(deidentify(dcmread(source), ...))."""
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    dataset = dcmread(io.BytesIO(data))
    result = deidentify(dataset, keys=keys, patient=patient, options=options, site_pseudonym=site_pseudonym)
    return deidentified_bytes(result)
