"""The DICOM JSON Model (PS3.18 F.2) of a stored object for WADO-RS metadata: values larger than
a threshold are not inlined but given as a BulkDataURI, and Pixel Data always is."""

import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydicom import dcmread

PIXEL_DATA = "7FE00010"
DEFAULT_BULK_THRESHOLD = 1024


def metadata(
    path: str | os.PathLike[str],
    *,
    bulk_data_uri: Callable[[str], str],
    pixel_data_uri: str | None,
    pixel_data_vr: str = "OW",
    threshold: int = DEFAULT_BULK_THRESHOLD,
) -> dict[str, Any]:
    """The object's attributes as DICOM JSON. `bulk_data_uri(tag)` names where a large value of a
    top-level element can be fetched (tag as 8 hex digits); `pixel_data_uri` where its frames are."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = dcmread(Path(path), stop_before_pixels=True, force=True)
        result = dataset.to_json_dict(
            bulk_data_threshold=threshold,
            bulk_data_element_handler=lambda element: bulk_data_uri(f"{element.tag:08X}"),
            suppress_invalid_tags=True,
        )
    if pixel_data_uri:
        result[PIXEL_DATA] = {"vr": pixel_data_vr, "BulkDataURI": pixel_data_uri}
    return result


def bulk_value(path: str | os.PathLike[str], tag: int) -> bytes | None:
    """The raw value of a top-level binary element, None when the object has no such element."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = dcmread(Path(path), stop_before_pixels=True, force=True)
        if tag not in dataset:
            return None
        value = dataset[tag].value
    return value if isinstance(value, bytes) else None
