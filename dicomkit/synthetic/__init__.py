"""Deterministic synthetic DICOM studies with planted lesions, for demos, tests and benchmarks.

Pure Python on pydicom and NumPy (no Django). The same seed always gives byte-identical
datasets: UIDs are name-based, dates count back from a fixed REFERENCE_DATETIME and all noise
comes from numpy's default_rng(seed).
"""

from .brain_ct import brain_ct
from .brain_mri import brain_mri_t1
from .catalogue import demo_catalogue
from .chest_ct import chest_ct
from .chest_xray import chest_xray
from .common import REFERENCE_DATETIME, SITES, Patient, StudyOrder, derive_uid
from .demo_study import DemoStudy, Lesion
from .mammography import mammography_exam

__all__ = [
    "REFERENCE_DATETIME",
    "SITES",
    "DemoStudy",
    "Lesion",
    "Patient",
    "StudyOrder",
    "brain_ct",
    "brain_mri_t1",
    "chest_ct",
    "chest_xray",
    "demo_catalogue",
    "derive_uid",
    "mammography_exam",
]
