"""Study rows built straight through the ORM, as ingest leaves them, for worklist tests that need
many studies with chosen priorities, arrivals and statuses."""

import itertools
from datetime import datetime, timedelta

from django.utils import timezone

from worklist.models import Patient, Study

START = timezone.make_aware(datetime(2026, 3, 2, 8, 0))
_numbers = itertools.count(1)


def make_study(site, *, name="HONG^GILDONG", patient_id=None, minutes=0, **fields) -> Study:
    """A study of `site` arriving `minutes` after START; other Study fields by keyword."""
    number = next(_numbers)
    patient, _ = Patient.objects.get_or_create(
        site=site, patient_id=patient_id or f"P{number:05}", defaults={"name": name, "sex": "F"}
    )
    study = Study.objects.create(
        study_instance_uid=f"1.2.410.200.{number}",
        patient=patient,
        site=site,
        patient_name_search=name.upper(),
        accession_number=fields.pop("accession_number", f"A{number:05}"),
        modality=fields.pop("modality", "CT"),
        **fields,
    )
    Study.objects.filter(pk=study.pk).update(received_at=START + timedelta(minutes=minutes))
    study.refresh_from_db()
    return study
