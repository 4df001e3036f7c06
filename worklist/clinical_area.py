"""The clinical area of a study (which AI products apply), from its modality, body part and
description. Plain rules, in one place, tested against the demo and real samples."""

from worklist.models import ClinicalArea

BRAIN_WORDS = ("BRAIN", "HEAD", "SKULL", "뇌", "두부")
CHEST_WORDS = ("CHEST", "LUNG", "THORAX", "흉부", "폐")
STROKE_WORDS = ("STROKE", "HEMORRHAGE", "HAEMORRHAGE", "INFARCT", "뇌졸중")


def clinical_area_of(*, modality: str, body_part: str, description: str) -> str:
    text = f"{body_part} {description}".upper()
    if modality == "MG":
        return ClinicalArea.BREAST
    if modality in ("CT", "CR", "DX") and any(word in text for word in CHEST_WORDS):
        return ClinicalArea.LUNG
    if modality == "CT" and (any(word in text for word in BRAIN_WORDS) or any(w in text for w in STROKE_WORDS)):
        return ClinicalArea.STROKE
    if modality == "MR" and any(word in text for word in BRAIN_WORDS + ("DEMENTIA", "치매", "MPRAGE", "T1")):
        return ClinicalArea.DEMENTIA
    return ClinicalArea.OTHER


def is_stat_order(priority_value: str, description: str) -> bool:
    """Requested Procedure Priority (0040,1003) STAT, or STAT/응급 written in the description."""
    return priority_value.strip().upper() == "STAT" or any(
        word in description.upper() for word in ("STAT", "응급", "EMERGENCY")
    )
