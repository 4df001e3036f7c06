"""Served frames made into pictures: the linear VOI window of PS3.3 C.11.2.1.2.1 to 8 bits,
MONOCHROME1 inverted, encoded as PNG or JPEG (thumbnails, WADO-RS rendered)."""

import io

import numpy as np
from PIL import Image

MEDIA_TYPES = {"image/png": "PNG", "image/jpeg": "JPEG"}


def windowed(values: np.ndarray, *, center: float, width: float, invert: bool = False) -> np.ndarray:
    """8-bit grey levels of monochrome values under the window; colour (rows x columns x 3) is
    returned as it is."""
    if values.ndim == 3:
        return values.astype(np.uint8, copy=False)
    width = max(float(width), 1.0)
    low, high = center - 0.5 - (width - 1) / 2, center - 0.5 + (width - 1) / 2
    x = values.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = ((x - (center - 0.5)) / (width - 1) + 0.5) * 255
    image = np.where(x <= low, 0.0, np.where(x > high, 255.0, scaled))
    grey = np.rint(np.clip(image, 0, 255)).astype(np.uint8)
    return 255 - grey if invert else grey


def encode(image: np.ndarray, media_type: str, *, max_size: int | None = None, quality: int = 90) -> bytes:
    """The 8-bit image as PNG or JPEG, scaled down (never up) to fit `max_size` pixels a side."""
    picture = Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8))
    if max_size is not None and max(picture.size) > max_size:
        picture.thumbnail((max_size, max_size), Image.Resampling.LANCZOS)
    output = io.BytesIO()
    options = {"quality": quality} if media_type == "image/jpeg" else {"compress_level": 6}
    picture.save(output, format=MEDIA_TYPES[media_type], **options)
    return output.getvalue()
