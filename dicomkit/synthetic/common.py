"""Shared DICOM plumbing: deterministic UIDs, the three sites, patients, orders and the
patient/study/series header every synthetic instance starts from."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np
from pydicom import Dataset
from pydicom.dataset import FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian

# The demo's fixed "today". Nothing here reads the wall clock, so a seed always gives the same bytes.
REFERENCE_DATETIME = datetime(2026, 3, 20, 9, 0, 0)

# pydicom's generate_uid(prefix=None) ignores entropy_srcs and returns a random UUID, so UIDs are
# name-based (RFC 4122 version 5) UUIDs under the 2.25 root instead: same names, same UID.
_UID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:dicomkit:synthetic")


def derive_uid(*names: object) -> UID:
    """A valid 2.25.<uuid> UID that depends only on `names`."""
    return UID(f"2.25.{uuid.uuid5(_UID_NAMESPACE, '/'.join(str(name) for name in names)).int}")


IMPLEMENTATION_CLASS_UID = derive_uid("implementation-class")
IMPLEMENTATION_VERSION_NAME = "DICOMKIT_SYN1"
MANUFACTURER = "DICOMKIT SYNTHETIC"
SYNTHETIC_NOTICE = "Synthetic image with planted findings - not a real patient"

UTF8 = "ISO_IR 192"
KOREAN_ISO_2022 = "\\ISO 2022 IR 149"


@dataclass(frozen=True)
class Site:
    code: str
    institution_name: str
    institution_address: str
    station_prefix: str
    patient_id_format: str
    accession_prefix: str
    chest_xray_photometric: str


SITES: dict[str, Site] = {
    site.code: site
    for site in (
        Site(
            "SUWON",
            "Suwon Hanbit Medical Center",
            "Yeongtong-gu, Suwon-si, Gyeonggi-do, Republic of Korea",
            "SWN",
            "{:08d}",
            "SW",
            "MONOCHROME2",
        ),
        Site(
            "ICHEON",
            "Icheon Dongbu Hospital",
            "Icheon-si, Gyeonggi-do, Republic of Korea",
            "ICN",
            "IC{:07d}",
            "IC",
            # Icheon's CR reader still sends inverted-grey images.
            "MONOCHROME1",
        ),
        Site(
            "ANSEONG",
            "Anseong Seongmo Hospital",
            "Anseong-si, Gyeonggi-do, Republic of Korea",
            "ASG",
            "A{:07d}",
            "AS",
            "MONOCHROME2",
        ),
    )
}


def site_for(code: str) -> Site:
    try:
        return SITES[code]
    except KeyError:
        raise ValueError(f"unknown site {code!r}; expected one of {sorted(SITES)}") from None


@dataclass(frozen=True)
class Patient:
    patient_id: str
    name: str  # DICOM PN, family^given, e.g. "김^민준"
    birth_date: date
    sex: str  # "M" | "F"
    character_set: str = UTF8

    def age_on(self, day: date) -> str:
        years = day.year - self.birth_date.year - ((day.month, day.day) < (self.birth_date.month, self.birth_date.day))
        return f"{years:03d}Y"


@dataclass(frozen=True)
class StudyOrder:
    accession_number: str
    study_datetime: datetime
    referring_physician: str = ""
    description: str = ""  # empty: the generator's own description


MALE_NAMES = (
    "김^민준",
    "이^도현",
    "박^성호",
    "최^영수",
    "정^재훈",
    "강^동욱",
    "조^현우",
    "윤^상철",
)
FEMALE_NAMES = (
    "이^서연",
    "김^지은",
    "박^미숙",
    "최^은정",
    "정^순자",
    "한^옥순",
    "임^혜진",
    "오^정희",
)


def default_patient(seed: int, site_code: str, *, sex: str, age_years: int) -> Patient:
    """A plausible patient for a stand-alone generator call, derived from the seed only."""
    rng = np.random.default_rng([seed, 7001])
    names = MALE_NAMES if sex == "M" else FEMALE_NAMES
    birth = REFERENCE_DATETIME.date() - timedelta(days=int(age_years * 365.25 + rng.integers(0, 365)))
    return Patient(
        patient_id=site_for(site_code).patient_id_format.format(int(rng.integers(100000, 999999))),
        name=names[int(rng.integers(len(names)))],
        birth_date=birth,
        sex=sex,
    )


def default_order(seed: int, site_code: str, *, days_ago: int = 0, hour: int = 10) -> StudyOrder:
    rng = np.random.default_rng([seed, 7002])
    when = REFERENCE_DATETIME.replace(hour=hour, minute=int(rng.integers(0, 60)), second=int(rng.integers(0, 60)))
    when -= timedelta(days=days_ago)
    return StudyOrder(
        accession_number=f"{site_for(site_code).accession_prefix}{when:%Y%m%d}{int(rng.integers(1, 9999)):04d}",
        study_datetime=when,
        referring_physician="이^정훈",
    )


def code_item(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


def dicom_date(moment: datetime | date) -> str:
    return moment.strftime("%Y%m%d")


def dicom_time(moment: datetime) -> str:
    return moment.strftime("%H%M%S")


@dataclass(frozen=True)
class Series:
    number: int
    modality: str
    description: str
    body_part: str
    start: datetime
    station_suffix: str
    model_name: str
    uid: str
    frame_of_reference_uid: str | None = None
    protocol_name: str = ""
    extra: dict = field(default_factory=dict)


class StudyHeader:
    """The patient, study and series modules shared by every instance of one study."""

    def __init__(
        self,
        *,
        seed: int,
        site_code: str,
        patient: Patient,
        order: StudyOrder,
        description: str,
    ):
        self.site = site_for(site_code)
        self.patient = patient
        self.order = order
        self.description = order.description or description
        self._namespace = (
            seed,
            self.site.code,
            patient.patient_id,
            order.accession_number,
        )
        self.study_instance_uid = self.uid("study")

    def uid(self, *names: object) -> UID:
        return derive_uid(*self._namespace, *names)

    def series(
        self,
        number: int,
        *,
        modality: str,
        description: str,
        body_part: str,
        station_suffix: str,
        model_name: str,
        minutes_after_start: float = 2.0,
        with_frame_of_reference: bool = False,
        protocol_name: str = "",
    ) -> Series:
        return Series(
            number=number,
            modality=modality,
            description=description,
            body_part=body_part,
            start=self.order.study_datetime + timedelta(minutes=minutes_after_start),
            station_suffix=station_suffix,
            model_name=model_name,
            uid=self.uid("series", number),
            frame_of_reference_uid=self.uid("frame-of-reference", number) if with_frame_of_reference else None,
            protocol_name=protocol_name or description,
        )

    def instance(self, series: Series, instance_number: int, sop_class_uid: str) -> Dataset:
        """A dataset with file meta and every module except the modality-specific ones."""
        sop_instance_uid = self.uid("instance", series.number, instance_number)
        dataset = Dataset()
        dataset.file_meta = self._file_meta(sop_class_uid, sop_instance_uid)
        charset = self.patient.character_set
        dataset.SpecificCharacterSet = charset.split("\\") if "\\" in charset else charset
        dataset.SOPClassUID = sop_class_uid
        dataset.SOPInstanceUID = sop_instance_uid
        study_time = self.order.study_datetime
        dataset.InstanceCreationDate = dicom_date(series.start)
        dataset.InstanceCreationTime = dicom_time(series.start)
        dataset.StudyDate = dicom_date(study_time)
        dataset.StudyTime = dicom_time(study_time)
        dataset.SeriesDate = dicom_date(series.start)
        dataset.SeriesTime = dicom_time(series.start)
        dataset.AcquisitionDate = dicom_date(series.start)
        dataset.AcquisitionTime = dicom_time(series.start)
        dataset.ContentDate = dicom_date(series.start)
        dataset.ContentTime = dicom_time(series.start)
        dataset.AccessionNumber = self.order.accession_number
        dataset.Modality = series.modality
        dataset.Manufacturer = MANUFACTURER
        dataset.InstitutionName = self.site.institution_name
        dataset.InstitutionAddress = self.site.institution_address
        dataset.InstitutionalDepartmentName = "Radiology"
        dataset.ReferringPhysicianName = self.order.referring_physician
        dataset.StationName = f"{self.site.station_prefix}_{series.station_suffix}"
        dataset.StudyDescription = self.description
        dataset.SeriesDescription = series.description
        dataset.ManufacturerModelName = series.model_name
        dataset.PatientName = self.patient.name
        dataset.PatientID = self.patient.patient_id
        dataset.IssuerOfPatientID = self.site.code
        dataset.PatientBirthDate = dicom_date(self.patient.birth_date)
        dataset.PatientSex = self.patient.sex
        dataset.PatientAge = self.patient.age_on(study_time.date())
        dataset.BodyPartExamined = series.body_part
        dataset.DeviceSerialNumber = f"{self.site.station_prefix}-{series.modality}-0001"
        dataset.SoftwareVersions = "dicomkit.synthetic 1"
        dataset.ProtocolName = series.protocol_name
        dataset.StudyInstanceUID = self.study_instance_uid
        dataset.SeriesInstanceUID = series.uid
        dataset.StudyID = self.order.accession_number[-8:]
        dataset.SeriesNumber = series.number
        dataset.InstanceNumber = instance_number
        dataset.ImageComments = SYNTHETIC_NOTICE
        dataset.BurnedInAnnotation = "NO"
        if series.frame_of_reference_uid:
            dataset.FrameOfReferenceUID = series.frame_of_reference_uid
            dataset.PositionReferenceIndicator = ""
        return dataset

    @staticmethod
    def _file_meta(sop_class_uid: str, sop_instance_uid: str) -> FileMetaDataset:
        meta = FileMetaDataset()
        meta.FileMetaInformationVersion = b"\x00\x01"
        meta.MediaStorageSOPClassUID = sop_class_uid
        meta.MediaStorageSOPInstanceUID = sop_instance_uid
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
        meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
        return meta


def set_pixel_data(
    dataset: Dataset,
    pixels: np.ndarray,
    *,
    bits_stored: int,
    photometric: str = "MONOCHROME2",
) -> None:
    """Attach a 2D 16-bit array as native little-endian Pixel Data with its Image Pixel module."""
    signed = pixels.dtype.kind == "i"
    dataset.SamplesPerPixel = 1
    dataset.PhotometricInterpretation = photometric
    dataset.Rows, dataset.Columns = (int(n) for n in pixels.shape)
    dataset.BitsAllocated = 16
    dataset.BitsStored = bits_stored
    dataset.HighBit = bits_stored - 1
    dataset.PixelRepresentation = int(signed)
    data = np.ascontiguousarray(pixels, dtype="<i2" if signed else "<u2").tobytes()
    dataset.add_new(0x7FE00010, "OW", data)


def to_stored(values: np.ndarray, *, low: int, high: int, dtype) -> np.ndarray:
    """Round and clip float pixel values into the stored integer range."""
    return np.clip(np.rint(values), low, high).astype(dtype)
