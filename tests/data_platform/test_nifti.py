"""NIfTI volumes, when the export asks for them: one per CT/MR volume series, listed in the
manifest, shaped (columns, rows, slices), with the affine DICOM's geometry gives (in RAS) and the
values after the modality rescale."""

import gzip
import json
import zipfile

import nibabel
import numpy as np
import pytest
from pydicom.uid import generate_uid

from data_platform import package, purposes
from data_platform.models import IdentityKey
from dicomkit.deidentify import Keys, remap_uid
from tests.data_platform.volumes import (
    COLUMN_SPACING,
    COLUMNS,
    INTERCEPT,
    ORIGIN,
    ROW_SPACING,
    ROWS,
    SLICE_STEP,
    SLOPE,
    ingest_series,
    stored_values,
)


def export_files(steward, cohort, purpose, *, options) -> dict[str, bytes]:
    export = purposes.request_export(cohort=cohort, purpose=purpose, reason="volumes", user=steward, options=options)
    with zipfile.ZipFile(package.package_path(export.pk)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


@pytest.mark.django_db(transaction=True)
def test_a_ct_series_becomes_a_nifti_volume_with_its_geometry_and_rescaled_values(
    sites, steward, cohort_of_everything, approved_purpose
):
    # Slices ingested out of order: the volume follows the position along the normal.
    series_uid = ingest_series(sites["SUWON"], study_uid=generate_uid(), indexes=(2, 0, 3, 1))

    files = export_files(steward, cohort_of_everything, approved_purpose, options={"nifti": True})

    manifest = json.loads(files["manifest.json"])
    keys = Keys(secret=bytes(IdentityKey.objects.get(active=True).secret))
    (name,) = manifest["nifti"]
    assert name.endswith(f"/nifti/{remap_uid(series_uid, keys)}.nii.gz") and name in manifest["files"]
    image = nibabel.Nifti1Image.from_bytes(gzip.decompress(files[name]))
    assert image.shape == (COLUMNS, ROWS, 4)
    # DICOM's LPS turned into RAS: x and y change sign, z does not.
    expected_affine = np.array(
        [
            [-COLUMN_SPACING, 0, 0, -ORIGIN[0]],
            [0, -ROW_SPACING, 0, -ORIGIN[1]],
            [0, 0, SLICE_STEP, ORIGIN[2]],
            [0, 0, 0, 1],
        ]
    )
    np.testing.assert_allclose(image.affine, expected_affine, atol=1e-5)
    data = image.get_fdata()
    for slice_index in range(4):
        np.testing.assert_allclose(data[:, :, slice_index], (stored_values(slice_index) * SLOPE + INTERCEPT).T)
    # The first voxel is the top-left pixel of the lowest slice: at the origin, in RAS.
    np.testing.assert_allclose(image.affine @ [0, 0, 0, 1], [-ORIGIN[0], -ORIGIN[1], ORIGIN[2], 1], atol=1e-5)


@pytest.mark.django_db(transaction=True)
def test_without_the_option_there_are_no_volumes_and_a_re_export_with_it_is_identical(
    sites, steward, cohort_of_everything, approved_purpose
):
    ingest_series(sites["SUWON"], study_uid=generate_uid())

    plain = export_files(steward, cohort_of_everything, approved_purpose, options={})
    first = export_files(steward, cohort_of_everything, approved_purpose, options={"nifti": True})
    second = export_files(steward, cohort_of_everything, approved_purpose, options={"nifti": True})

    assert json.loads(plain["manifest.json"])["nifti"] == []
    assert not any("/nifti/" in name for name in plain)
    assert first == second
    assert first[json.loads(first["manifest.json"])["nifti"][0]][:2] == b"\x1f\x8b"  # gzip
