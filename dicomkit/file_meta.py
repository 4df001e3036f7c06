"""DICOM File Meta Information (PS3.10 7.1) written straight to bytes.

A C-STORE SCP receives the dataset already encoded; all it needs to make a Part 10 file is the
preamble, "DICM" and group 0002 in front of it. Building that through a pydicom Dataset costs a
fraction of a millisecond per object, a measurable part of the per-object budget, for seven
short elements; struct does it in microseconds."""

import struct

PREAMBLE = bytes(128) + b"DICM"
_VERSION = b"\x00\x01"


def _element(element: int, vr: bytes, value: bytes) -> bytes:
    # Explicit VR Little Endian, group 0x0002; OB has the long form (2 reserved bytes, 4-byte length).
    if vr == b"OB":
        return struct.pack("<HH2s2xI", 0x0002, element, vr, len(value)) + value
    return struct.pack("<HH2sH", 0x0002, element, vr, len(value)) + value


def _uid(value: str) -> bytes:
    encoded = value.encode("ascii", "replace")
    return encoded + b"\x00" if len(encoded) % 2 else encoded


def _text(value: str) -> bytes:
    encoded = value.encode("ascii", "replace")
    return encoded + b" " if len(encoded) % 2 else encoded


def encode_file_meta(
    *,
    sop_class_uid: str,
    sop_instance_uid: str,
    transfer_syntax_uid: str,
    implementation_class_uid: str,
    implementation_version_name: str = "",
    source_ae_title: str = "",
) -> bytes:
    """Group 0002 with its group length, ready to follow the preamble."""
    elements = [
        _element(0x0001, b"OB", _VERSION),
        _element(0x0002, b"UI", _uid(sop_class_uid)),
        _element(0x0003, b"UI", _uid(sop_instance_uid)),
        _element(0x0010, b"UI", _uid(transfer_syntax_uid)),
        _element(0x0012, b"UI", _uid(implementation_class_uid)),
    ]
    if implementation_version_name:
        elements.append(_element(0x0013, b"SH", _text(implementation_version_name)))
    if source_ae_title:
        elements.append(_element(0x0016, b"AE", _text(source_ae_title)))
    body = b"".join(elements)
    return _element(0x0000, b"UL", struct.pack("<I", len(body))) + body
