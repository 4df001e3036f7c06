"""The demo set: every clinical area at every site, a prior mammogram a year earlier, one woman
known at two sites under different local patient IDs, and one normal study."""

from __future__ import annotations

import math
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from .brain_ct import brain_ct
from .brain_mri import brain_mri_t1
from .chest_ct import chest_ct
from .chest_xray import chest_xray
from .common import (
    KOREAN_ISO_2022,
    REFERENCE_DATETIME,
    UTF8,
    Patient,
    StudyOrder,
    site_for,
)
from .demo_study import DemoStudy
from .mammography import mammography_exam


@dataclass(frozen=True)
class Person:
    """Someone in the demo; `key` ties together the records one person has at several sites."""

    key: str
    name: str
    birth_date: date
    sex: str
    character_set: str = UTF8


PEOPLE = {
    person.key: person
    for person in (
        Person("kim-minjun", "김^민준", date(1958, 4, 11), "M"),
        Person("lee-seoyeon", "이^서연", date(1961, 9, 23), "F"),
        Person("park-misook", "박^미숙", date(1970, 2, 14), "F"),
        Person("choi-youngsoo", "최^영수", date(1949, 7, 2), "M"),
        Person("jung-soonja", "정^순자", date(1944, 12, 5), "F"),
        Person("kang-donguk", "강^동욱", date(1955, 3, 30), "M"),
        Person("han-jieun", "한^지은", date(1975, 6, 18), "F"),
        Person("park-sungho", "박^성호", date(1952, 10, 9), "M", KOREAN_ISO_2022),
        Person("yoon-oksoon", "윤^옥순", date(1946, 1, 27), "F"),
        Person("cho-hyunwoo", "조^현우", date(1980, 8, 8), "M"),
        Person("lim-hyejin", "임^혜진", date(1968, 11, 11), "F"),
        Person("oh-junghee", "오^정희", date(1951, 5, 20), "F"),
        Person("jang-byungchul", "장^병철", date(1941, 2, 16), "M"),
    )
}

REFERRING_PHYSICIANS = {"SUWON": "이^정훈", "ICHEON": "김^수진", "ANSEONG": "박^준영"}


@dataclass(frozen=True)
class Entry:
    site_code: str
    person: str
    kind: str  # generator: chest_ct, chest_xray, mammography, brain_ct, brain_mri
    days_ago: int
    hour: int
    minute: int
    options: dict = field(default_factory=dict)
    anatomy: str = ""  # entries sharing this share anatomy (a prior and its current exam)


ENTRIES = (
    Entry("SUWON", "kim-minjun", "chest_ct", 1, 10, 12, {"nodule_count": 2}),
    Entry("SUWON", "lee-seoyeon", "chest_xray", 6, 9, 5),
    Entry("SUWON", "park-misook", "mammography", 3, 11, 40, anatomy="park-misook"),
    Entry(
        "SUWON",
        "park-misook",
        "mammography",
        3 + 364,
        11,
        5,
        {"mass_diameter_mm": 7.0},
        anatomy="park-misook",
    ),
    Entry("SUWON", "choi-youngsoo", "brain_ct", 0, 2, 47),
    Entry("SUWON", "jung-soonja", "brain_mri", 4, 15, 20, {"atrophy_grade": 2}),
    Entry("ICHEON", "kang-donguk", "chest_xray", 2, 8, 55),
    Entry("ICHEON", "han-jieun", "mammography", 5, 14, 10),
    Entry("ICHEON", "park-sungho", "brain_ct", 1, 21, 33),
    Entry("ICHEON", "yoon-oksoon", "brain_mri", 3, 13, 0, {"atrophy_grade": 1}),
    Entry("ANSEONG", "lee-seoyeon", "chest_ct", 2, 16, 25, {"nodule_count": 1}),
    Entry("ANSEONG", "cho-hyunwoo", "chest_xray", 1, 8, 20, {"nodule": False}),
    Entry("ANSEONG", "lim-hyejin", "mammography", 2, 10, 50),
    Entry("ANSEONG", "oh-junghee", "brain_ct", 0, 6, 15),
    Entry("ANSEONG", "jang-byungchul", "brain_mri", 1, 11, 45, {"atrophy_grade": 3}),
)

DESCRIPTIONS = {
    "chest_ct": "CT Chest without contrast",
    "chest_xray": "XR Chest PA",
    "mammography": "MG Screening Bilateral",
    "brain_ct": "CT Brain without contrast (stroke)",
    "brain_mri": "MRI Brain dementia protocol",
}


def _scaled(value: float, scale: float, *, minimum: int, even: bool = False) -> int:
    result = max(minimum, round(value * scale))
    return result + (result % 2) if even else result


def _generators(scale: float) -> dict[str, Callable[..., DemoStudy]]:
    """Image sizes scale linearly, slice counts with the square root so thin volumes stay usable."""
    depth = math.sqrt(scale)

    def make_chest_ct(**options):
        return chest_ct(
            slices=_scaled(100, depth, minimum=12),
            size=_scaled(512, scale, minimum=64, even=True),
            **options,
        )

    def make_chest_xray(**options):
        return chest_xray(size=_scaled(2048, scale, minimum=256, even=True), **options)

    def make_mammography(**options):
        rows = _scaled(2048, scale, minimum=256, even=True)
        return mammography_exam(rows=rows, columns=round(rows * 1664 / 2048), **options)

    def make_brain_ct(**options):
        return brain_ct(
            slices=_scaled(30, depth, minimum=10),
            size=_scaled(512, scale, minimum=64, even=True),
            **options,
        )

    def make_brain_mri(**options):
        return brain_mri_t1(
            slices=_scaled(160, depth, minimum=40),
            size=_scaled(256, scale, minimum=64, even=True),
            **options,
        )

    return {
        "chest_ct": make_chest_ct,
        "chest_xray": make_chest_xray,
        "mammography": make_mammography,
        "brain_ct": make_brain_ct,
        "brain_mri": make_brain_mri,
    }


def _patient_ids(seed: int) -> dict[tuple[str, str], str]:
    """One local ID per (site, person), in each site's own format, never repeated."""
    rng = np.random.default_rng([seed, 9001])
    ids: dict[tuple[str, str], str] = {}
    for entry in ENTRIES:
        key = (entry.site_code, entry.person)
        if key not in ids:
            number = int(rng.integers(100000, 9999999))
            ids[key] = site_for(entry.site_code).patient_id_format.format(number)
    return ids


def demo_catalogue(seed: int = 2026, *, scale: float = 1.0, kinds: Collection[str] | None = None) -> list[DemoStudy]:
    """The whole demo set, byte-for-byte the same for the same seed and scale.

    `scale` shrinks pixel matrices (e.g. 0.25 for fast tests); study content is unchanged.
    `kinds` (generator names, e.g. {"chest_xray"}) generates only those studies, the same as in
    the whole set.
    """
    if not 0.0 < scale <= 1.0:
        raise ValueError("scale must be in (0, 1]")
    generators = _generators(scale)
    patient_ids = _patient_ids(seed)
    studies = []
    for index, entry in enumerate(ENTRIES):
        if kinds is not None and entry.kind not in kinds:
            continue
        person = PEOPLE[entry.person]
        patient = Patient(
            patient_id=patient_ids[(entry.site_code, entry.person)],
            name=person.name,
            birth_date=person.birth_date,
            sex=person.sex,
            character_set=person.character_set,
        )
        when = (REFERENCE_DATETIME - timedelta(days=entry.days_ago)).replace(
            hour=entry.hour, minute=entry.minute, second=(index * 7) % 60
        )
        site = site_for(entry.site_code)
        order = StudyOrder(
            accession_number=f"{site.accession_prefix}{when:%Y%m%d}{(seed * 37 + index * 101) % 10000:04d}",
            study_datetime=when,
            referring_physician=REFERRING_PHYSICIANS[entry.site_code],
            description=DESCRIPTIONS[entry.kind],
        )
        options = dict(entry.options)
        if entry.anatomy:
            options["anatomy_seed"] = seed * 1000 + sum(entry.anatomy.encode())
        studies.append(
            generators[entry.kind](
                seed=seed * 100 + index,
                site_code=entry.site_code,
                patient=patient,
                order=order,
                **options,
            )
        )
    return studies
