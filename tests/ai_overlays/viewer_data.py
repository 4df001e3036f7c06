"""AI results for the viewer's tests, stored straight through the ORM as intake leaves them (the
viewer must draw whatever is stored, whichever producer stored it)."""

import hashlib
import io
import itertools

import numpy as np
from PIL import Image

from ai_overlays.models import AIModel, AIResult, Finding, Heatmap
from worklist.models import Study

_numbers = itertools.count(1)


def make_model(*, vendor="Acme", product="LungNet", version="2.1", colour="#00c8ff", threshold=50, **fields) -> AIModel:
    return AIModel.objects.create(
        vendor=vendor,
        product=product,
        version=version,
        clinical_area=fields.pop("clinical_area", "lung"),
        modalities=fields.pop("modalities", "CT"),
        colour=colour,
        operating_threshold=threshold,
        **fields,
    )


def heatmap_png(rows: int, columns: int, square: tuple[int, int, int, int], value: int = 255) -> bytes:
    """An 8-bit greyscale PNG, zero but for `value` in rows square[0]:square[1], columns square[2]:square[3]."""
    grey = np.zeros((rows, columns), dtype=np.uint8)
    grey[square[0] : square[1], square[2] : square[3]] = value
    buffer = io.BytesIO()
    Image.fromarray(grey, mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def store(study: Study, model: AIModel, *, findings=(), heatmaps=(), **fields) -> AIResult:
    """One result with its findings (Finding field dicts) and heatmaps (Heatmap field dicts)."""
    number = next(_numbers)
    result = AIResult.objects.create(
        study=study,
        ai_model=model,
        result_id=fields.pop("result_id", f"result-{number}"),
        body_sha256=hashlib.sha256(str(number).encode()).hexdigest(),
        **fields,
    )
    Finding.objects.bulk_create([Finding(result=result, **finding) for finding in findings])
    Heatmap.objects.bulk_create([Heatmap(result=result, **heatmap) for heatmap in heatmaps])
    return result
