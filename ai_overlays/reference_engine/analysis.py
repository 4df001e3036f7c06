"""From datasets to result payloads in the AI result contract: one payload per reference product
that applies, findings in image pixel coordinates, heatmaps only on slices with a finding.
Plain Python (no Django)."""

from __future__ import annotations

import base64
import math

import numpy as np
import pydicom

from .blobs import Candidate
from .chest_xray import detect_chest_nodules
from .dementia_mri import measure_atrophy
from .images import Image, Volume, image_of, volume_of
from .lung_ct import detect_lung_nodules
from .mammography import View, detect_exam_masses
from .products import CHEST_XRAY, DEMENTIA_MRI, LUNG_CT, MAMMOGRAPHY, NOTICE, STROKE_CT, Product, products_for
from .stroke_ct import detect_haemorrhage

# A candidate becomes a finding from this score on (0-100); below it only lifts the case score.
FINDING_SCORE = {LUNG_CT.slug: 40.0, STROKE_CT.slug: 50.0, MAMMOGRAPHY.slug: 50.0, CHEST_XRAY.slug: 50.0}
# Below this diameter a 2D finding is a point rather than a box.
POINT_BELOW_MM = 5.0


def analyse_datasets(datasets: list[pydicom.Dataset], clinical_area: str) -> list[dict]:
    """Payloads for every reference product of the clinical area whose modality is present,
    one series each (the largest of that modality)."""
    by_series: dict[str, list[pydicom.Dataset]] = {}
    for dataset in datasets:
        if "PixelData" in dataset:
            by_series.setdefault(str(dataset.SeriesInstanceUID), []).append(dataset)
    if not by_series:
        return []
    study_uid = str(next(iter(by_series.values()))[0].StudyInstanceUID)
    payloads = []
    for product in _products_present(by_series, clinical_area):
        chosen = [series for series in by_series.values() if str(series[0].Modality) in product.modalities]
        payloads.append(ANALYSERS[product.slug](product, study_uid, chosen))
    return payloads


def _products_present(by_series: dict[str, list[pydicom.Dataset]], clinical_area: str) -> list[Product]:
    modalities = {str(series[0].Modality) for series in by_series.values()}
    return [p for modality in sorted(modalities) for p in products_for(clinical_area, modality)]


def _largest_volume(series_list: list[list[pydicom.Dataset]]) -> Volume:
    return volume_of(max(series_list, key=len))


def _analyse_lung_ct(product: Product, study_uid: str, series_list) -> dict:
    volume = _largest_volume(series_list)
    candidates = detect_lung_nodules(volume.voxels, volume.spacing)
    findings, heatmaps = _volume_findings(volume, candidates, product, "nodule", "Nodule candidate")
    return _payload(product, study_uid, candidates, findings, heatmaps, _count_summary(findings, "lung nodule"))


def _analyse_stroke_ct(product: Product, study_uid: str, series_list) -> dict:
    volume = _largest_volume(series_list)
    candidates = detect_haemorrhage(volume.voxels, volume.spacing)
    findings, heatmaps = _volume_findings(volume, candidates, product, "haemorrhage", "Hyperdense haemorrhage")
    summary = _count_summary(findings, "intracranial haemorrhage")
    return _payload(product, study_uid, candidates, findings, heatmaps, summary, triage=bool(findings))


def _analyse_dementia_mri(product: Product, study_uid: str, series_list) -> dict:
    volume = _largest_volume(series_list)
    measure = measure_atrophy(volume.voxels, volume.spacing)
    if measure is None:
        return _payload(product, study_uid, [], [], [], "No brain found in the series.")
    share = round(100.0 * measure.central_csf_fraction)
    finding = {
        "type": "atrophy",
        "label": f"Central CSF {measure.central_csf_ml:g} ml ({share}% of the ventricular region)",
        "score": measure.score,
        "series_instance_uid": volume.series_instance_uid,
    }
    summary = f"Atrophy score {measure.score:g}: CSF fills {share}% of the region round the ventricles."
    return {
        **_payload(product, study_uid, [], [finding], [], summary),
        "case_score": measure.score,
    }


def _analyse_mammography(product: Product, study_uid: str, series_list) -> dict:
    """All views at once: a mass is confirmed by the other view of the same breast."""
    datasets = [dataset for series in series_list for dataset in series]
    images = [image_of(dataset) for dataset in datasets]
    views = [
        View(
            image.pixels,
            image.spacing,
            str(getattr(dataset, "ImageLaterality", "") or ""),
            str(getattr(dataset, "ViewPosition", "") or ""),
        )
        for image, dataset in zip(images, datasets, strict=True)
    ]
    findings, heatmaps, candidates = [], [], []
    for image, found in zip(images, detect_exam_masses(views), strict=True):
        candidates += found
        reported = [c for c in found if c.score >= FINDING_SCORE[product.slug]]
        findings += [_finding_2d(image, c, "mass", "Mass candidate") for c in reported]
        if reported:
            heatmaps.append(_heatmap(image.pixels.shape, reported, image.spacing, image))
    return _payload(product, study_uid, candidates, findings, heatmaps, _count_summary(findings, "breast mass"))


def _analyse_projection(detector, finding_type: str, label: str, noun: str):
    def analyse(product: Product, study_uid: str, series_list) -> dict:
        findings, heatmaps, candidates = [], [], []
        for dataset in (dataset for series in series_list for dataset in series):
            image = image_of(dataset)
            found = detector(image.pixels, image.spacing)
            candidates += found
            reported = [c for c in found if c.score >= FINDING_SCORE[product.slug]]
            findings += [_finding_2d(image, c, finding_type, label) for c in reported]
            if reported:
                heatmaps.append(_heatmap(image.pixels.shape, reported, image.spacing, image))
        return _payload(product, study_uid, candidates, findings, heatmaps, _count_summary(findings, noun))

    return analyse


def _volume_findings(volume: Volume, candidates: list[Candidate], product: Product, finding_type: str, label: str):
    findings, heatmaps = [], []
    slices, rows, columns = volume.voxels.shape
    by_slice: dict[int, list[Candidate]] = {}
    for candidate in candidates:
        if candidate.score < FINDING_SCORE[product.slug]:
            continue
        index, row, column = candidate.centre
        centre_slice = int(np.clip(round(index), 0, slices - 1))
        reach = [candidate.radius_mm / s for s in volume.spacing]
        text = f"{label} {2 * candidate.radius_mm:.0f} mm"
        findings.append(
            {
                "type": finding_type,
                "label": text,
                "score": candidate.score,
                "series_instance_uid": volume.series_instance_uid,
                "box3d": {
                    "min": [
                        _clip(column + 0.5 - reach[2], columns),
                        _clip(row + 0.5 - reach[1], rows),
                        int(np.clip(math.floor(index - reach[0] + 0.5), 0, slices - 1)),
                    ],
                    "max": [
                        _clip(column + 0.5 + reach[2], columns),
                        _clip(row + 0.5 + reach[1], rows),
                        int(np.clip(math.ceil(index + reach[0] - 0.5), 0, slices - 1)),
                    ],
                },
            }
        )
        plane = Image(
            volume.voxels[centre_slice],
            volume.spacing[1:],
            volume.sop_instance_uids[centre_slice],
            volume.series_instance_uid,
        )
        findings.append(
            _finding_2d(plane, Candidate((row, column), candidate.radius_mm, candidate.score), finding_type, text)
        )
        by_slice.setdefault(centre_slice, []).append(Candidate((row, column), candidate.radius_mm, candidate.score))
    for index, found in sorted(by_slice.items()):
        plane = Image(
            volume.voxels[index], volume.spacing[1:], volume.sop_instance_uids[index], volume.series_instance_uid
        )
        heatmaps.append(_heatmap((rows, columns), found, volume.spacing[1:], plane))
    return findings, heatmaps


def _finding_2d(image: Image, candidate: Candidate, finding_type: str, label: str) -> dict:
    rows, columns = image.pixels.shape
    row, column = candidate.centre
    finding = {
        "type": finding_type,
        "label": label if "mm" in label else f"{label} {2 * candidate.radius_mm:.0f} mm",
        "score": candidate.score,
        "series_instance_uid": image.series_instance_uid,
        "sop_instance_uid": image.sop_instance_uid,
        "frame": 1,
    }
    if 2 * candidate.radius_mm < POINT_BELOW_MM:
        finding["point"] = [_clip(column + 0.5, columns), _clip(row + 0.5, rows)]
    else:
        reach_rows, reach_columns = (candidate.radius_mm / s for s in image.spacing)
        finding["box"] = [
            _clip(column + 0.5 - reach_columns, columns),
            _clip(row + 0.5 - reach_rows, rows),
            _clip(column + 0.5 + reach_columns, columns),
            _clip(row + 0.5 + reach_rows, rows),
        ]
    return finding


def _heatmap(shape: tuple[int, int], candidates: list[Candidate], spacing: tuple[float, float], image: Image) -> dict:
    """A Gaussian bump per finding, peak = score, as rows x columns uint8 (0-255 = probability 0-1)."""
    rows, columns = shape
    row_mm = (np.arange(rows, dtype=np.float32)[:, None]) * spacing[0]
    column_mm = (np.arange(columns, dtype=np.float32)[None, :]) * spacing[1]
    probability = np.zeros(shape, dtype=np.float32)
    for candidate in candidates:
        row, column = candidate.centre
        sigma = max(candidate.radius_mm, 1.0)
        distance2 = (row_mm - row * spacing[0]) ** 2 + (column_mm - column * spacing[1]) ** 2
        probability = np.maximum(probability, candidate.score / 100.0 * np.exp(-distance2 / (2.0 * sigma * sigma)))
    data = np.clip(np.rint(probability * 255.0), 0, 255).astype(np.uint8)
    return {
        "series_instance_uid": image.series_instance_uid,
        "sop_instance_uid": image.sop_instance_uid,
        "frame": 1,
        "rows": rows,
        "columns": columns,
        "encoding": "raw",
        "data": base64.b64encode(data.tobytes()).decode("ascii"),
    }


def _payload(product, study_uid, candidates, findings, heatmaps, summary, *, triage: bool = False) -> dict:
    case_score = max([c.score for c in candidates] + [f["score"] for f in findings] + [0.0])
    return {
        "result_id": product.result_id(study_uid),
        "model": product.model_identity(),
        "study_instance_uid": study_uid,
        "case_score": round(float(min(case_score, 100.0)), 1),
        "triage_flag": triage,
        "summary": f"{NOTICE} {summary}",
        "findings": findings,
        "heatmaps": heatmaps,
    }


def _count_summary(findings: list[dict], noun: str) -> str:
    count = len({(f["series_instance_uid"], f["label"]) for f in findings if "sop_instance_uid" in f})
    if not count:
        return f"No {noun} candidate found."
    return f"{count} {noun} candidate{'s' if count > 1 else ''} found."


def _clip(value: float, limit: int) -> float:
    return round(float(np.clip(value, 0.0, limit)), 1)


ANALYSERS = {
    LUNG_CT.slug: _analyse_lung_ct,
    STROKE_CT.slug: _analyse_stroke_ct,
    DEMENTIA_MRI.slug: _analyse_dementia_mri,
    MAMMOGRAPHY.slug: _analyse_mammography,
    CHEST_XRAY.slug: _analyse_projection(detect_chest_nodules, "nodule", "Nodule candidate", "lung nodule"),
}
