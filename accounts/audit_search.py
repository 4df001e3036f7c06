"""Searching the audit trail: the filter form of the audit page, the query it makes, and the
export rows. Patient names are resolved above accounts (worklist.audit_views), which passes the
patient rows a search matched."""

import csv
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from django import forms
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import AuditAction, AuditEvent

PAGE_SIZE = 100
OUTCOMES = {"success": True, "failure": False}


class AuditSearchForm(forms.Form):
    user = forms.CharField(label=_("User"), max_length=150, required=False)
    action = forms.ChoiceField(label=_("Action"), choices=[("", _("Any action")), *AuditAction.choices], required=False)
    outcome = forms.ChoiceField(
        label=_("Outcome"),
        choices=[("", _("Any outcome")), ("success", _("Success")), ("failure", _("Failure"))],
        required=False,
    )
    date_from = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    study_uid = forms.CharField(label=_("Study UID"), max_length=64, required=False)
    patient = forms.CharField(label=_("Patient"), max_length=200, required=False)

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and end < start:
            raise forms.ValidationError(_("The end date is before the start date."))
        return cleaned


def search_events(criteria: dict, *, patient_refs: Iterable[int] | None = None) -> QuerySet[AuditEvent]:
    """Events matching the form's cleaned data, newest first. patient_refs: the patient rows the
    patient filter matched (None: no patient filter)."""
    events = AuditEvent.objects.all()
    if criteria.get("user"):
        events = events.filter(username__icontains=criteria["user"])
    if criteria.get("action"):
        events = events.filter(action=criteria["action"])
    if criteria.get("outcome") in OUTCOMES:
        events = events.filter(success=OUTCOMES[criteria["outcome"]])
    # Dates are the reader's local days (Asia/Seoul), the end day included.
    if criteria.get("date_from"):
        events = events.filter(at__gte=_start_of(criteria["date_from"]))
    if criteria.get("date_to"):
        events = events.filter(at__lt=_start_of(criteria["date_to"] + timedelta(days=1)))
    if criteria.get("study_uid"):
        events = events.filter(study_uid=criteria["study_uid"].strip())
    if patient_refs is not None:
        events = events.filter(patient_ref__in=list(patient_refs))
    return events.order_by("-id")


def _start_of(day) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


@dataclass(frozen=True)
class EventPage:
    events: list[AuditEvent]
    next_before: int | None


def events_page(events: QuerySet[AuditEvent], *, before: str | None) -> EventPage:
    """One page, older rows through ?before=<id> (no COUNT over a table that only grows)."""
    if before and before.isdigit():
        events = events.filter(id__lt=int(before))
    rows = list(events.select_related("user")[: PAGE_SIZE + 1])
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return EventPage(rows, rows[-1].pk if more else None)


CSV_HEADER = ["id", "time_utc", "user", "action", "atna_code", "outcome", "source", "study_uid", "patient_ref"]
CSV_PATIENT_HEADER = ["patient_id", "patient_name"]
CSV_TRAILER = ["detail", "row_hash"]


def csv_lines(
    events: QuerySet[AuditEvent], *, patients: Callable[[set[int]], dict[int, tuple[str, str]]] | None
) -> Iterator[str]:
    """The export, line by line for a streaming response. patients(refs) -> {ref: (id, name)}
    is given only to those who may see names."""
    buffer = _LineBuffer()
    writer = csv.writer(buffer)
    writer.writerow(CSV_HEADER + (CSV_PATIENT_HEADER if patients else []) + CSV_TRAILER)
    yield buffer.take()
    chunk: list[AuditEvent] = []
    for event in events.iterator(chunk_size=2000):
        chunk.append(event)
        if len(chunk) == 2000:
            yield from _chunk_lines(chunk, writer, buffer, patients)
            chunk = []
    yield from _chunk_lines(chunk, writer, buffer, patients)


def _chunk_lines(chunk, writer, buffer, patients) -> Iterator[str]:
    known = patients({event.patient_ref for event in chunk if event.patient_ref is not None}) if patients else {}
    for event in chunk:
        row = [
            event.pk,
            event.at.astimezone(UTC).isoformat(),
            event.username,
            event.action,
            event.atna_code,
            "success" if event.success else "failure",
            event.source,
            event.study_uid,
            "" if event.patient_ref is None else event.patient_ref,
        ]
        if patients:
            row += list(known.get(event.patient_ref, ("", "")))
        row += [json.dumps(event.detail, ensure_ascii=False, sort_keys=True), event.row_hash]
        writer.writerow([_inert(cell) for cell in row])
        yield buffer.take()


def _inert(cell):
    """A cell a spreadsheet would run as a formula (=, +, -, @) is quoted as text."""
    if isinstance(cell, str) and cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + cell
    return cell


class _LineBuffer:
    def __init__(self) -> None:
        self._parts: list[str] = []

    def write(self, text: str) -> None:
        self._parts.append(text)

    def take(self) -> str:
        text = "".join(self._parts)
        self._parts.clear()
        return text
