"""Reading a stored study from the archive and handing it to analyse_datasets."""

from __future__ import annotations

import pydicom

from worklist import archive_files
from worklist.models import Instance, Study

from .analysis import analyse_datasets
from .products import products_for


def analyse_study(study: Study) -> list[dict]:
    """Result payloads for the study; only series of a modality some reference product reads are
    loaded, so a study with nothing to analyse costs one query."""
    wanted = {m for p in _area_products(study) for m in p.modalities}
    if not wanted:
        return []
    keys = Instance.objects.filter(series__study=study, series__modality__in=wanted, has_pixels=True).values_list(
        "file_key", flat=True
    )
    datasets = [pydicom.dcmread(archive_files.path_of(key)) for key in keys]
    return analyse_datasets(datasets, study.clinical_area) if datasets else []


def _area_products(study: Study):
    modalities = set(study.modalities.split(",")) | {study.modality}
    return [p for m in modalities if m for p in products_for(study.clinical_area, m)]
