"""The master patient index: each (site, local patient ID) linked to one person, loaded from the
hospitals' CSV and completed by a steward confirming suggestions (exact match of the normalised
name, birth date and sex). Part of the additional information: never exported, changes audited."""

import csv
import io
from dataclasses import dataclass
from datetime import date

from django.db import transaction
from django.db.models import Count

from accounts.models import Site, User
from data_platform.models import AccessKind, DataAccessEvent, LinkSource, Person, PersonLink
from worklist.models import Patient


class MpiError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def normalise_name(name: str) -> str:
    """The name as compared: the Korean form when the PN has one (김^민준=Kim^Minjun), casefolded,
    without ^ and spaces, so 김^민준, 김민준 and "KIM^MIN JUN" vs "Kim^Minjun" compare as written."""
    groups = [group for group in name.split("=") if group.strip("^ ")]
    chosen = next(
        (group for group in groups if any("\uac00" <= ch <= "\ud7a3" for ch in group)), groups[0] if groups else ""
    )
    return "".join(chosen.split()).replace("^", "").casefold()


@dataclass(frozen=True)
class LoadSummary:
    linked: int
    unchanged: int


def load_csv(text: str, *, user: User | None = None) -> LoadSummary:
    """Columns: site, patient_id, and either person_key or name, birth_date (YYYY-MM-DD), sex."""
    reader = csv.DictReader(io.StringIO(text))
    if not {"site", "patient_id"} <= set(reader.fieldnames or ()):
        raise MpiError("bad_header", "the CSV needs the columns site and patient_id")
    sites = {site.code: site for site in Site.objects.all()}
    linked = unchanged = 0
    with transaction.atomic():
        for line, row in enumerate(reader, start=2):
            site = sites.get((row.get("site") or "").strip())
            patient_id = (row.get("patient_id") or "").strip()
            if site is None or not patient_id:
                raise MpiError("bad_row", f"line {line}: unknown site or empty patient_id")
            person_key = (row.get("person_key") or "").strip()
            person = Person.objects.get_or_create(key=person_key)[0] if person_key else None
            changed = _link(
                site=site,
                patient_id=patient_id,
                person=person,
                source=LinkSource.CSV,
                name=row.get("name") or "",
                birth_date=_date(row.get("birth_date") or "", line),
                sex=(row.get("sex") or "").strip().upper()[:1],
            )
            linked, unchanged = (linked + 1, unchanged) if changed else (linked, unchanged + 1)
        DataAccessEvent.objects.create(
            user=user, kind=AccessKind.MPI_CHANGED, detail={"csv_rows": linked + unchanged, "linked": linked}
        )
    return LoadSummary(linked=linked, unchanged=unchanged)


def person_for_patient(patient: Patient) -> Person:
    """The patient's person; a patient the index does not know yet becomes a person of its own."""
    link = PersonLink.objects.select_related("person").filter(site_id=patient.site_id, patient_id=patient.patient_id)
    found = link.first()
    if found is not None:
        return found.person
    with transaction.atomic():
        _link(
            site=patient.site,
            patient_id=patient.patient_id,
            person=None,
            source=LinkSource.AUTOMATIC,
            name=patient.name,
            birth_date=patient.birth_date,
            sex=patient.sex,
        )
    return PersonLink.objects.get(site_id=patient.site_id, patient_id=patient.patient_id).person


def index_worklist_patients() -> int:
    """Give every archived patient a link, so suggestions can cover them; returns how many were new."""
    known = set(PersonLink.objects.values_list("site_id", "patient_id"))
    new = [
        patient
        for patient in Patient.objects.select_related("site")
        if (patient.site_id, patient.patient_id) not in known
    ]
    for patient in new:
        person_for_patient(patient)
    return len(new)


@dataclass(frozen=True)
class Suggestion:
    """Links that look like one person but point at several."""

    links: list[PersonLink]

    @property
    def key(self) -> str:
        return ",".join(str(link.pk) for link in self.links)


def suggestions(*, user: User) -> list[Suggestion]:
    groups = (
        PersonLink.objects.exclude(name_key="")
        .exclude(birth_date=None)
        .values("name_key", "birth_date", "sex")
        .annotate(persons=Count("person", distinct=True))
        .filter(persons__gt=1)
        .order_by("name_key", "birth_date", "sex")
    )
    found = [
        Suggestion(
            links=list(
                PersonLink.objects.select_related("site")
                .filter(name_key=group["name_key"], birth_date=group["birth_date"], sex=group["sex"])
                .order_by("site__code", "patient_id")
            )
        )
        for group in groups
    ]
    DataAccessEvent.objects.create(user=user, kind=AccessKind.MPI_READ, detail={"suggestions": len(found)})
    return found


def confirm_same_person(*, link_ids: list[int], user: User) -> Person:
    """A steward's confirmation: every listed link now points at the first one's person."""
    with transaction.atomic():
        links = list(PersonLink.objects.select_for_update().filter(pk__in=link_ids).order_by("pk"))
        if len(links) < 2:
            raise MpiError("too_few", "choose at least two records")
        person = min((link.person for link in links), key=lambda candidate: candidate.pk)
        for link in links:
            link.person, link.source, link.confirmed_by = person, LinkSource.STEWARD, user
            link.save(update_fields=["person", "source", "confirmed_by", "updated_at"])
        DataAccessEvent.objects.create(
            user=user, kind=AccessKind.MPI_CHANGED, detail={"merged_links": [link.pk for link in links]}
        )
    return person


def _link(*, site, patient_id, person, source, name, birth_date, sex) -> bool:
    link = PersonLink.objects.filter(site=site, patient_id=patient_id).first()
    if link is not None and (person is None or link.person_id == person.pk):
        return False
    if person is None:
        person = Person.objects.create(key=f"local:{site.code}:{patient_id}")
    if link is None:
        PersonLink.objects.create(
            site=site,
            patient_id=patient_id,
            person=person,
            source=source,
            name_key=normalise_name(name),
            birth_date=birth_date,
            sex=sex,
        )
    else:
        link.person, link.source = person, source
        link.save(update_fields=["person", "source", "updated_at"])
    return True


def _date(text: str, line: int) -> date | None:
    if not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise MpiError("bad_date", f"line {line}: birth_date must be YYYY-MM-DD") from None
