import io

from pydicom import dcmread
from pydicom.data import get_testdata_file

from dicomkit.file_meta import PREAMBLE, encode_file_meta


def test_a_received_dataset_behind_our_file_meta_reads_as_the_original():
    original = dcmread(get_testdata_file("CT_small.dcm"))
    with open(get_testdata_file("CT_small.dcm"), "rb") as handle:
        raw = handle.read()
    dataset_offset = 132 + 12 + original.file_meta.FileMetaInformationGroupLength
    meta = encode_file_meta(
        sop_class_uid=original.SOPClassUID,
        sop_instance_uid=original.SOPInstanceUID,
        transfer_syntax_uid=original.file_meta.TransferSyntaxUID,
        implementation_class_uid="1.2.826.0.1.3680043.9.3811.3.0.4",
        implementation_version_name="PYNETDICOM_304",
        source_ae_title="CT_SUWON",
    )
    copy = dcmread(io.BytesIO(PREAMBLE + meta + raw[dataset_offset:]))
    assert copy.file_meta.FileMetaInformationGroupLength == len(meta) - 12
    assert copy.file_meta.FileMetaInformationVersion == b"\x00\x01"
    assert copy.file_meta.MediaStorageSOPClassUID == original.SOPClassUID
    assert copy.file_meta.MediaStorageSOPInstanceUID == original.SOPInstanceUID
    assert copy.file_meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID
    assert copy.file_meta.ImplementationVersionName == "PYNETDICOM_304"
    assert copy.file_meta.SourceApplicationEntityTitle == "CT_SUWON"
    assert copy.PatientName == original.PatientName
    assert copy.PixelData == original.PixelData


def test_odd_lengths_are_padded_as_the_value_representations_require():
    meta = encode_file_meta(
        sop_class_uid="1.2.3",
        sop_instance_uid="1.2.34",
        transfer_syntax_uid="1.2.840.10008.1.2.1",
        implementation_class_uid="1.2.3",
        source_ae_title="ODD",
    )
    assert len(meta) % 2 == 0
    copy = dcmread(io.BytesIO(PREAMBLE + meta), force=True)
    assert copy.file_meta.MediaStorageSOPClassUID == "1.2.3"
    assert copy.file_meta.SourceApplicationEntityTitle == "ODD"
