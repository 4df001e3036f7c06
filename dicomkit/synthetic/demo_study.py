"""What a generator hands back: the datasets of one study and the truth about its lesions."""

from __future__ import annotations

from dataclasses import dataclass, field

import pydicom


@dataclass(frozen=True)
class Lesion:
    """Ground truth for one planted finding.

    `centre_voxel` is (column, row) on a 2D image or (column, row, slice_index) in a volume,
    with slice_index counting datasets of the series in InstanceNumber order. For atrophy,
    `diameter_mm` is the diameter of a sphere with the ventricles' volume and the real measures
    are in `measure`.
    """

    kind: str
    series_instance_uid: str
    sop_instance_uid: str | None
    centre_voxel: tuple[float, ...]
    centre_mm: tuple[float, float, float] | None
    diameter_mm: float
    measure: dict = field(default_factory=dict)


@dataclass
class DemoStudy:
    site_code: str
    clinical_area: str
    study_instance_uid: str
    patient_id: str
    datasets: list[pydicom.Dataset]
    lesions: list[Lesion]

    @property
    def patient_name(self) -> str:
        return str(self.datasets[0].PatientName)

    @property
    def study_date(self) -> str:
        return str(self.datasets[0].StudyDate)

    @property
    def modality(self) -> str:
        return str(self.datasets[0].Modality)

    @property
    def study_description(self) -> str:
        return str(self.datasets[0].StudyDescription)

    @property
    def pixel_bytes(self) -> int:
        return sum(len(dataset.PixelData) for dataset in self.datasets)
