"""Series a training pipeline cannot use leave the package with their reason in the manifest and
the dataset card: a localizer, a volume with a missing slice, an object with Burned In Annotation
YES, an object the ingest's decode check flagged. Only the usable images are in the zip."""

import io
import json
import zipfile

import pydicom
import pytest
from pydicom.uid import generate_uid

from data_platform import package, purposes
from data_platform.models import ExportStatus, IdentityKey
from dicomkit.deidentify import Keys, remap_uid
from tests.data_platform.volumes import ingest_series
from worklist.models import Instance


@pytest.fixture
def study_with_unusable_series(sites):
    study_uid = generate_uid()
    suwon = sites["SUWON"]
    series = {
        "usable": ingest_series(suwon, study_uid=study_uid),
        "localizer": ingest_series(suwon, study_uid=study_uid, ImageType=["ORIGINAL", "PRIMARY", "LOCALIZER"]),
        "missing_slice": ingest_series(suwon, study_uid=study_uid, indexes=(0, 1, 3, 4)),
        "flagged": ingest_series(suwon, study_uid=study_uid),
    }
    # One object of an otherwise clean series may carry burned-in text.
    burned_series = ingest_series(
        suwon, study_uid=study_uid, indexes=range(3), per_slice={1: {"BurnedInAnnotation": "YES"}}
    )
    burned = Instance.objects.get(series__series_instance_uid=burned_series, instance_number=2)
    # What worklist.pixel_checks records when the background decode of a frame fails.
    Instance.objects.filter(series__series_instance_uid=series["flagged"], instance_number=2).update(
        pixel_problem="frame 1 does not decode", pixels_checked=True
    )
    return series, burned_series, burned.sop_instance_uid


@pytest.mark.django_db(transaction=True)
def test_unusable_series_and_objects_are_excluded_with_their_reason_and_absent_from_the_package(
    study_with_unusable_series, steward, cohort_of_everything, approved_purpose
):
    series, burned_series, burned_sop = study_with_unusable_series
    export = purposes.request_export(
        cohort=cohort_of_everything, purpose=approved_purpose, reason="cleaning check", user=steward
    )
    export.refresh_from_db()
    assert export.status == ExportStatus.DONE

    keys = Keys(secret=bytes(IdentityKey.objects.get(active=True).secret))
    with zipfile.ZipFile(package.package_path(export.pk)) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    manifest = json.loads(files["manifest.json"])
    reasons_by_series = {}
    for exclusion in manifest["exclusions"]:
        reasons_by_series.setdefault(exclusion["series"], set()).update(exclusion["reasons"])
    assert "localizer" in reasons_by_series[remap_uid(series["localizer"], keys)]
    assert "missing_slice" in reasons_by_series[remap_uid(series["missing_slice"], keys)]
    assert "flagged_at_ingest" in reasons_by_series[remap_uid(series["flagged"], keys)]
    burned = [exclusion for exclusion in manifest["exclusions"] if exclusion.get("instance")]
    assert burned == [
        {
            "study": burned[0]["study"],
            "series": remap_uid(burned_series, keys),
            "instance": remap_uid(burned_sop, keys),
            "reasons": ["burned_in_annotation"],
        }
    ]

    exported = {
        (str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID))
        for ds in (pydicom.dcmread(io.BytesIO(data)) for name, data in files.items() if "/images/" in name)
    }
    assert {series_uid for series_uid, _ in exported} == {
        remap_uid(series["usable"], keys),
        remap_uid(burned_series, keys),
    }
    assert len(exported) == 4 + 2
    assert remap_uid(burned_sop, keys) not in {sop for _, sop in exported}
    for excluded in ("localizer", "missing_slice", "flagged"):
        assert not any(remap_uid(series[excluded], keys) in name for name in files)

    card = files["dataset_card.md"].decode()
    for line in ("- localizer: 1", "- missing_slice: 1", "- flagged_at_ingest: 1", "- burned_in_annotation: 1"):
        assert line in card
    assert manifest["counts"]["instances"] == 6
