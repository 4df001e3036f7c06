"""Writing de-identified objects: a zeroed preamble, rebuilt file meta, pixel bytes as they were."""

import io
from pathlib import Path
from typing import BinaryIO

from pydicom import Dataset, dcmwrite
from pydicom.uid import UID

from dicomkit.deidentify.explicit_le import NotExplicitLittle, encode_dataset, file_meta_bytes

PREAMBLE = b"\x00" * 128  # PS3.15 E.1.1 item 7: the preamble may hold identifying data


def deidentified_bytes(dataset: Dataset) -> bytes:
    """The file bytes of a result of deidentify(). Explicit VR little endian objects (every
    uncompressed and encapsulated syntax but deflate) are encoded directly, anything else by dcmwrite;
    both give the same bytes."""
    syntax = UID(dataset.file_meta.TransferSyntaxUID)
    if not (syntax.is_implicit_VR or not syntax.is_little_endian or syntax.is_deflated):
        try:
            chunks = encode_dataset(dataset)
        except NotExplicitLittle:
            pass
        else:
            return b"".join((PREAMBLE, b"DICM", file_meta_bytes(dataset.file_meta), *chunks))
    dataset.preamble = PREAMBLE
    buffer = io.BytesIO()
    dcmwrite(buffer, dataset, enforce_file_format=True)
    return buffer.getvalue()


def write_deidentified(dataset: Dataset, destination: str | Path | BinaryIO) -> None:
    """Write the result of deidentify() to a path or a binary file object."""
    data = deidentified_bytes(dataset)
    if isinstance(destination, str | Path):
        Path(destination).write_bytes(data)
    else:
        destination.write(data)
