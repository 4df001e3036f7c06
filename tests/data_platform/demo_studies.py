"""The demo catalogue's chest X-rays in the archive: studies with AI findings to label and export."""

import io

import pydicom

from dicomkit.synthetic import demo_catalogue
from worklist.ingest import ingest
from worklist.models import Study


def ingest_demo_chest_xrays(sites) -> list[Study]:
    studies = []
    for demo in demo_catalogue(scale=0.25, kinds={"chest_xray"}):
        for dataset in demo.datasets:
            buffer = io.BytesIO()
            pydicom.dcmwrite(buffer, dataset, enforce_file_format=True)
            assert ingest(buffer.getvalue(), site=sites[demo.site_code], source="test").ok
        studies.append(Study.objects.get(study_instance_uid=demo.study_instance_uid))
    return studies
