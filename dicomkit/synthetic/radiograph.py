"""Shared by chest X-ray and mammography: from a projected attenuation map to a processed
"for presentation" image, and the DX-family attributes both IODs need."""

from __future__ import annotations

import numpy as np
from pydicom import Dataset
from scipy.ndimage import gaussian_filter, zoom

from .common import code_item

BITS_STORED = 12
MAXIMUM = (1 << BITS_STORED) - 1


def blur(image: np.ndarray, sigma_pixels: float) -> np.ndarray:
    """Gaussian blur; wide kernels run on a downsampled copy, which is indistinguishable."""
    factor = int(max(1, sigma_pixels // 6))
    if factor == 1:
        return gaussian_filter(image, sigma_pixels, mode="nearest")
    small = image[::factor, ::factor]
    smoothed = gaussian_filter(small, sigma_pixels / factor, mode="nearest")
    grown = zoom(
        smoothed,
        (image.shape[0] / small.shape[0], image.shape[1] / small.shape[1]),
        order=1,
    )
    return grown[: image.shape[0], : image.shape[1]].astype(image.dtype)


def expose(rng: np.random.Generator, attenuation: np.ndarray, photons: float) -> np.ndarray:
    """Log-domain detector signal with quantum noise: fewer photons behind dense tissue."""
    transmitted = photons * np.exp(-attenuation)
    noise = rng.standard_normal(attenuation.shape, dtype=np.float32)
    return attenuation + noise / np.sqrt(np.maximum(transmitted, 1.0))


def process(
    signal: np.ndarray,
    body: np.ndarray,
    spacing: float,
    *,
    equalisation: float,
    equalisation_mm: float,
    sharpening: float,
    sharpening_mm: float,
    low: float,
    high: float,
) -> np.ndarray:
    """Vendor-style processing: compress large-area contrast, sharpen detail, then map the body's
    signal range onto a soft S-curve. Returns values in [0, 1], 1 = most attenuating."""
    background = blur(signal, equalisation_mm / spacing)
    inside = body > 0.5
    reference = float(np.median(background[inside])) if inside.any() else 0.0
    equalised = signal - equalisation * (background - reference) * body
    detail = equalised - blur(equalised, sharpening_mm / spacing)
    sharpened = equalised + sharpening * detail
    if inside.any():
        lower, upper = np.percentile(sharpened[inside], [low, high])
    else:
        lower, upper = float(sharpened.min()), float(sharpened.max())
    scaled = (sharpened - lower) / max(upper - lower, 1e-6)
    # A logistic toe and shoulder instead of hard clipping, as film-like tone curves do.
    return 1.0 / (1.0 + np.exp(-4.2 * (scaled - 0.5)))


def to_pixels(presentation: np.ndarray, photometric: str) -> np.ndarray:
    values = np.clip(np.rint(presentation * MAXIMUM), 0, MAXIMUM).astype(np.uint16)
    if photometric == "MONOCHROME1":
        values = (MAXIMUM - values).astype(np.uint16)
    return values


def dx_attributes(
    dataset: Dataset,
    *,
    imager_spacing: float,
    magnification: float,
    photometric: str,
    source_to_detector: float,
    kvp: float,
    exposure_uas: int,
    body_part: str,
) -> None:
    """Modules common to DX and MG "for presentation" images (DX Image, DX Detector, ...)."""
    dataset.ImageType = ["ORIGINAL", "PRIMARY"]
    dataset.PresentationIntentType = "FOR PRESENTATION"
    dataset.PixelIntensityRelationship = "LOG"
    dataset.PixelIntensityRelationshipSign = 1
    dataset.RescaleIntercept = 0
    dataset.RescaleSlope = 1
    dataset.RescaleType = "US"
    dataset.PresentationLUTShape = "INVERSE" if photometric == "MONOCHROME1" else "IDENTITY"
    dataset.LossyImageCompression = "00"
    dataset.WindowCenter = MAXIMUM // 2 + 1
    dataset.WindowWidth = MAXIMUM + 1
    dataset.ImagerPixelSpacing = [round(imager_spacing, 6), round(imager_spacing, 6)]
    patient_spacing = imager_spacing / magnification
    dataset.PixelSpacing = [round(patient_spacing, 6), round(patient_spacing, 6)]
    dataset.PixelSpacingCalibrationType = "GEOMETRY"
    dataset.PixelSpacingCalibrationDescription = "Corrected for the estimated radiographic magnification"
    dataset.EstimatedRadiographicMagnificationFactor = round(magnification, 4)
    dataset.DistanceSourceToDetector = source_to_detector
    dataset.DistanceSourceToPatient = round(source_to_detector / magnification, 1)
    dataset.DetectorType = "SCINTILLATOR"
    dataset.DetectorConfiguration = "AREA"
    dataset.DetectorID = "SYN-FPD-01"
    dataset.KVP = kvp
    dataset.ExposureInuAs = exposure_uas
    dataset.Exposure = max(1, exposure_uas // 1000)
    dataset.BodyPartExamined = body_part
    dataset.QualityControlImage = "NO"
    dataset.AcquisitionContextSequence = []


def anatomic_region(code: str, meaning: str) -> list[Dataset]:
    return [code_item(code, "SCT", meaning)]
