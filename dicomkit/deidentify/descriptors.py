"""Clean Descriptors Option: a description survives only if made entirely of allow-listed words."""

import re

_ENGLISH = """
abdomen abdominal ap acute adrenal angio angiography ankle aorta arterial artery axial bone bones
brain breast c cardiac carotid cervical chest circle coronal cor contrast ct cta cardiac delayed
diffusion dwi enhanced extremity face facial flair foot gre hand head heart helical high hip hrct
iv kidney knee l lat lateral left liver localizer low lower lumbar lung lungs mammo mammography
mediastinum mip mpr mr mra mri neck non of or orbit pa pancreas pe pelvis perfusion pet phase plain
portal post pre protocol recon reformat renal resolution right routine sag sagittal scout
screening sinus soft spine std standard stroke swi t1 t1w t2 t2w thick thin thoracic thorax
tissue tof topogram trauma upper venous w with without wo x xr ray dose abd ax spect cxr
"""

_KOREAN = """
흉부 복부 골반 뇌 두부 머리 경부 목 폐 간 신장 척추 경추 흉추 요추 유방 심장 혈관 관상동맥 대동맥
조영 조영증강 비조영 조영전 조영후 촬영 검사 단층 단층촬영 자기공명 전산화 저선량 고해상도 선별
정면 측면 좌 우 좌측 우측 양측 상복부 하복부 동맥 정맥 지연 관류 확산 뼈 연부조직 얼굴 부비동
"""

ALLOWED_WORDS = frozenset(_ENGLISH.split()) | frozenset(_KOREAN.split())

# Short measurements ("5mm", "1.25", "120kv") carry no identity; long digit runs might be an ID.
_MEASUREMENT = re.compile(r"^\d{1,3}(\.\d{1,3})?(mm|cm|ml|kv|kvp|mas|s|d|x)?$")
_WORD_SPLIT = re.compile(r"[^\w.]+|_")


def clean_descriptor(value: str) -> str | None:
    """The description when every word is allowed, else None (the attribute is removed)."""
    words = [word for word in _WORD_SPLIT.split(value.strip().casefold()) if word]
    if not words:
        return None
    for word in words:
        word = word.strip(".-")
        if word and word not in ALLOWED_WORDS and not _MEASUREMENT.match(word):
            return None
    return value.strip()
