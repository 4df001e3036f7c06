"""The built-in reference models: what each one reads and how its results are labelled. Plain
data (no Django), shared by the analysis and by the registration command."""

from __future__ import annotations

from dataclasses import dataclass

VENDOR = "Reading workstation"
VERSION = "1.0"
CLEARANCE = "none — not for clinical use"
NOTICE = "Reference engine, not for clinical use."
ENGINE_NAME = "reference"


@dataclass(frozen=True)
class Product:
    slug: str
    name: str
    clinical_area: str
    modalities: tuple[str, ...]
    colour: str

    def model_identity(self) -> dict:
        return {"vendor": VENDOR, "product": self.name, "version": VERSION}

    def result_id(self, study_instance_uid: str) -> str:
        return f"reference-{self.slug}-{study_instance_uid}"


LUNG_CT = Product("lung-nodule-ct", "Reference lung nodule CT", "lung", ("CT",), "#00b4d8")
CHEST_XRAY = Product("chest-x-ray", "Reference chest X-ray", "lung", ("CR", "DX"), "#90e0ef")
MAMMOGRAPHY = Product("mammography", "Reference mammography", "breast", ("MG",), "#ff70a6")
STROKE_CT = Product("stroke-ct", "Reference stroke CT", "stroke", ("CT",), "#ff4d4d")
DEMENTIA_MRI = Product("dementia-mri", "Reference dementia MRI", "dementia", ("MR",), "#b388ff")
PRODUCTS = (LUNG_CT, CHEST_XRAY, MAMMOGRAPHY, STROKE_CT, DEMENTIA_MRI)


def products_for(clinical_area: str, modality: str) -> list[Product]:
    return [p for p in PRODUCTS if p.clinical_area == clinical_area and modality in p.modalities]
