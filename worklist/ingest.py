"""The one ingest function behind every entry (folder import, STOW-RS and upload, C-STORE,
DICOMweb pull): parse and validate, write the file durably, index it in one transaction."""

import hashlib
import logging
import threading
from dataclasses import dataclass, field
from typing import Literal

from django.conf import settings
from django.db import IntegrityError, connections, transaction
from django.db.models import Count, F, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import Site
from dicomkit.errors import DicomRejected
from dicomkit.header import ZERO_PREAMBLE, ParsedInstance, parse_instance
from worklist import archive_files, live
from worklist.clinical_area import clinical_area_of, is_stat_order
from worklist.fault_injection import fault_point
from worklist.models import Instance, Patient, Series, Study
from worklist.pixel_checks import check_instance_pixels
from worklist.priority import priority_of
from worklist.signals import instance_stored

logger = logging.getLogger(__name__)

# Per thread: where to collect the pixel checks of stored instances instead of enqueuing each one.
_deferred = threading.local()

Outcome = Literal["stored", "already_present", "refused"]

# The two lookups every object needs, written out once (see _known_instance, _known_series).
_KNOWN_INSTANCE_SQL = f"SELECT id, sha256 FROM {Instance._meta.db_table} WHERE sop_instance_uid = %s"  # noqa: S608
_KNOWN_SERIES_SQL = (
    f"SELECT series.id, series.study_id, study.study_instance_uid, study.modalities"  # noqa: S608
    f" FROM {Series._meta.db_table} series JOIN {Study._meta.db_table} study ON study.id = series.study_id"
    f" WHERE series.series_instance_uid = %s"
)


@dataclass
class IngestResult:
    outcome: Outcome
    sop_instance_uid: str = ""
    sop_class_uid: str = ""
    study_instance_uid: str = ""
    code: str = ""
    reason: str = ""
    dimse_status: int = 0x0000
    http_status: int = 200
    instance_id: int | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.outcome != "refused"


class DuplicateConflict(DicomRejected):
    def __init__(self) -> None:
        super().__init__(
            "conflict",
            "an instance with this SOP Instance UID is already stored with different content",
            dimse_status=0xA900,
            http_status=409,
        )


def ingest(data: bytes, *, site: Site, source: str, source_detail: str = "") -> IngestResult:
    """Store one DICOM object. Never raises for bad input: a refusal comes back as a result."""
    # Bytes that will be stored as they are (Part 10, preamble already zero: what the C-STORE
    # listener hands us) are hashed and written to a temporary file while they are parsed; the
    # file gets its final name only once they are accepted, as write_durably would do.
    staged = archive_files.StagedWrite(data) if _stored_as_is(data) else None
    try:
        try:
            parsed = parse_instance(data, max_pixel_bytes=settings.MAX_PIXEL_BYTES)
        except DicomRejected as refusal:
            return _refused(refusal)
        if staged is not None and parsed.part10 is not data:
            staged.discard()
            staged = None
        handed_over, staged = staged, None  # _store finishes or discards it, also when it raises
        try:
            return _store(parsed, handed_over, site=site, source=source, source_detail=source_detail)
        except DicomRejected as refusal:
            return _refused(refusal, parsed)
    finally:
        if staged is not None:
            staged.discard()


def _stored_as_is(data: bytes) -> bool:
    return len(data) >= 132 and data[128:132] == b"DICM" and data[:128] == ZERO_PREAMBLE


def _refused(refusal: DicomRejected, parsed: ParsedInstance | None = None) -> IngestResult:
    logger.info("refused %s: %s", parsed.sop_instance_uid if parsed else "object", refusal.code)
    return IngestResult(
        outcome="refused",
        sop_instance_uid=parsed.sop_instance_uid if parsed else "",
        sop_class_uid=parsed.sop_class_uid if parsed else "",
        study_instance_uid=parsed.study_instance_uid if parsed else "",
        code=refusal.code,
        reason=refusal.message,
        dimse_status=refusal.dimse_status,
        http_status=refusal.http_status,
    )


def _store(
    parsed: ParsedInstance, staged: archive_files.StagedWrite | None, *, site: Site, source: str, source_detail: str
) -> IngestResult:
    """Index the object. `staged` (the same bytes as parsed.part10, being written) is finished or
    discarded here, also when this raises."""
    syncing = None  # the staged write whose final name is still being made durable
    try:
        known = _known_instance(parsed.sop_instance_uid)
        digest = staged.digest() if staged is not None else hashlib.sha256(parsed.part10).hexdigest()
        if known and known[1] == digest:
            return _already_present(parsed, known[0], digest)
        if known and settings.DUPLICATE_POLICY == "reject":
            raise DuplicateConflict()
        if staged is not None:
            key, created = staged.finish()
            syncing, staged = staged, None
        else:
            key, created = archive_files.write_durably(parsed.part10, digest)
    finally:
        if staged is not None:
            staged.discard()
    fault_point("after_file_written")
    try:
        with transaction.atomic():
            instance_id, study_id, replaced_key = _index(
                parsed, site=site, key=key, digest=digest, source=source, source_detail=source_detail
            )
            if parsed.has_pixels and not parsed.pixel_problem:
                # Decoding is slow: a worker does it once the row is visible.
                transaction.on_commit(lambda: _schedule_pixel_check(instance_id), robust=True)
            if instance_stored.has_listeners():
                transaction.on_commit(
                    lambda: instance_stored.send(
                        sender=Instance,
                        instance_id=instance_id,
                        sop_class_uid=parsed.sop_class_uid,
                        study_id=study_id,
                    ),
                    robust=True,
                )
            fault_point("before_commit")
    except IntegrityError:
        # Another ingest of the same SOP Instance committed first.
        if created and not Instance.objects.filter(file_key=key).exists():
            archive_files.remove(key)
        known = _known_instance(parsed.sop_instance_uid)
        if known and known[1] == digest:
            return _already_present(parsed, known[0], digest)
        raise DuplicateConflict() from None
    except BaseException:
        if created and not Instance.objects.filter(file_key=key).exists():
            archive_files.remove(key)
        raise
    fault_point("after_commit")
    if syncing is not None:
        try:
            syncing.wait_durable()
        except DicomRejected:
            # Not acknowledged, so not kept: the sender is told to send it again.
            _unindex(instance_id, key)
            raise
    if not archive_files.path_of(key).exists():
        # A concurrent failed ingest of identical bytes removed the file we skipped writing.
        archive_files.write_durably(parsed.part10, digest)
    if replaced_key and not Instance.objects.filter(file_key=replaced_key).exists():
        archive_files.remove(replaced_key)
    return IngestResult(
        outcome="stored",
        sop_instance_uid=parsed.sop_instance_uid,
        sop_class_uid=parsed.sop_class_uid,
        study_instance_uid=parsed.study_instance_uid,
        instance_id=instance_id,
        warnings=parsed.warnings,
    )


def defer_pixel_checks(pending: list[int] | None) -> None:
    """Collect the ids of this thread's stored instances that need a pixel check in `pending`
    instead of enqueuing one task per instance (None: enqueue at once again). A C-STORE
    association does this so that its acknowledgements wait for no task, then calls
    `enqueue_pixel_checks` when it ends."""
    _deferred.pending = pending


def enqueue_pixel_checks(instance_ids: list[int]) -> None:
    # No surrounding transaction: with the immediate backend each check runs here, and a long
    # write transaction on SQLite would hold up every other ingest.
    for instance_id in instance_ids:
        check_instance_pixels.enqueue(instance_id)


def _schedule_pixel_check(instance_id: int) -> None:
    pending = getattr(_deferred, "pending", None)
    if pending is None:
        check_instance_pixels.enqueue(instance_id)
    else:
        pending.append(instance_id)


def _known_instance(sop_instance_uid: str) -> tuple[int, str] | None:
    """(id, sha256) of the stored instance with this UID. Asked for every object: through the
    cursor, about a fifth of what the ORM's query costs."""
    connection = connections[Instance.objects.db]
    with connection.cursor() as cursor:
        cursor.execute(_KNOWN_INSTANCE_SQL, [sop_instance_uid])
        return cursor.fetchone()


def _unindex(instance_id: int, key: str) -> None:
    series_id, study_id = Instance.objects.filter(pk=instance_id).values_list("series_id", "series__study_id").get()
    Instance.objects.filter(pk=instance_id).delete()
    refresh_counters({series_id: study_id})
    if not Instance.objects.filter(file_key=key).exists():
        archive_files.remove(key)


def _already_present(parsed: ParsedInstance, instance_id: int, digest: str) -> IngestResult:
    key = archive_files.key_for(digest)
    if not archive_files.path_of(key).exists():
        # The row outlived its file (a power cut before the folder's fsync, a restored backup):
        # the bytes are here again, so the archive is whole again.
        archive_files.write_durably(parsed.part10, digest)
    return IngestResult(
        outcome="already_present",
        sop_instance_uid=parsed.sop_instance_uid,
        sop_class_uid=parsed.sop_class_uid,
        study_instance_uid=parsed.study_instance_uid,
        instance_id=instance_id,
    )


def _index(
    parsed: ParsedInstance, *, site: Site, key: str, digest: str, source: str, source_detail: str
) -> tuple[int, int, str]:
    """(instance id, study id, the file key a replaced instance had)."""
    fields = parsed.index
    series_id, study_id, series_created, study_modalities = _series_for(parsed, site=site)
    values = _instance_values(parsed, key=key, digest=digest, source=source, source_detail=source_detail)
    replaced_key = ""
    # Under "reject" a duplicate was refused before the file was written; one that raced in since
    # fails the insert below (IntegrityError), so only "replace" needs to look for it here.
    if settings.DUPLICATE_POLICY == "replace":
        existing = Instance.objects.select_for_update().filter(sop_instance_uid=parsed.sop_instance_uid).first()
        if existing is not None:
            if existing.series_id != series_id:
                raise DicomRejected("inconsistent", "this SOP Instance UID belongs to another series")
            replaced_key = existing.file_key
            Instance.objects.filter(pk=existing.pk).update(**values)
            return existing.pk, study_id, replaced_key

    instance_id = _insert_instance(series_id=series_id, sop_instance_uid=parsed.sop_instance_uid, **values)
    now = timezone.now()
    deferred_counts = getattr(_deferred, "counted_series", None)
    study_changes: dict = {}
    if deferred_counts is None:
        Series.objects.filter(pk=series_id).update(instance_count=F("instance_count") + 1)
        study_changes = {"instance_count": F("instance_count") + 1, "last_received_at": now}
    else:
        deferred_counts[series_id] = study_id
    if series_created:
        study_changes["series_count"] = F("series_count") + 1
        modalities = set(filter(None, study_modalities.split(",")))
        if fields["modality"] and fields["modality"] not in modalities:
            study_changes["modalities"] = ",".join(sorted(modalities | {fields["modality"]}))
    if study_changes:
        Study.objects.filter(pk=study_id).update(**study_changes)
    return instance_id, study_id, replaced_key


def _insert_instance(**values: object) -> int:
    # The hot spot of every C-STORE: one INSERT through the cursor costs a fraction of the ORM's
    # create() (model instance, signals, SQL compilation). Values go through each field's own
    # get_db_prep_save, so they are stored exactly as create() would store them.
    values["received_at"] = timezone.now()
    connection = connections[Instance.objects.db]
    columns, parameters = [], []
    for name, value in values.items():
        model_field = Instance._meta.get_field(name)  # by attname too (series_id)
        columns.append(connection.ops.quote_name(model_field.column))
        parameters.append(model_field.get_db_prep_save(value, connection))
    table = connection.ops.quote_name(Instance._meta.db_table)
    placeholders = ", ".join(["%s"] * len(columns))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders}) RETURNING id",  # noqa: S608
            parameters,
        )
        return cursor.fetchone()[0]


def defer_counters(counted_series: dict[int, int] | None) -> None:
    """Collect the series (id: study id) this thread adds instances to in `counted_series`
    instead of updating the Series and Study instance counts per object (None: per object
    again). A C-STORE association does this and calls `refresh_counters` every so many objects
    and when it ends: the worklist needs the counts eventually, the acknowledgement not at all."""
    _deferred.counted_series = counted_series


def refresh_counters(counted_series: dict[int, int]) -> None:
    """Recount the instances of these series and their studies, and stamp the studies received now."""
    if not counted_series:
        return
    series_ids = list(counted_series)
    study_ids = sorted(set(counted_series.values()))
    # Recounted rather than incremented: exact whatever ran concurrently (another association
    # adding to the same series, a duplicate that lost its race).
    with transaction.atomic():
        Series.objects.filter(pk__in=series_ids).update(instance_count=_instances_of_row("series_id"))
        Study.objects.filter(pk__in=study_ids).update(
            instance_count=_instances_of_row("series__study_id"),
            last_received_at=timezone.now(),
        )


def _instances_of_row(link: str) -> Coalesce:
    """How many instances point to the row being updated through `link`; 0, not NULL, for a row
    left with none (an instance unindexed again)."""
    per_row = Instance.objects.filter(**{link: OuterRef("pk")}).order_by().values(link).annotate(total=Count("id"))
    return Coalesce(Subquery(per_row.values("total")), 0)


def _series_for(parsed: ParsedInstance, *, site: Site) -> tuple[int, int, bool, str]:
    """(series id, study id, whether the series is new, the study's modalities) of the object,
    creating patient, study and series as needed."""
    # Most objects belong to a series already indexed: one query finds it and its study.
    with connections[Series.objects.db].cursor() as cursor:
        cursor.execute(_KNOWN_SERIES_SQL, [parsed.series_instance_uid])
        known = cursor.fetchone()
    if known is not None:
        series_id, study_id, study_instance_uid, modalities = known
        if study_instance_uid != parsed.study_instance_uid:
            raise DicomRejected("inconsistent", "this Series Instance UID belongs to another study")
        return series_id, study_id, False, modalities
    fields = parsed.index
    study = Study.objects.filter(study_instance_uid=parsed.study_instance_uid).first()
    study_created = False
    if study is None:
        patient, _ = Patient.objects.get_or_create(
            site=site,
            patient_id=fields["patient_id"],
            defaults={
                "name": fields["patient_name"],
                "birth_date": fields["patient_birth_date"],
                "sex": fields["patient_sex"],
            },
        )
        study, study_created = Study.objects.get_or_create(
            study_instance_uid=parsed.study_instance_uid,
            defaults={
                "patient": patient,
                "site": site,
                "accession_number": fields["accession_number"],
                "study_id": fields["study_id"],
                "study_date": fields["study_date"],
                "study_time": fields["study_time"],
                "description": fields["study_description"],
                "referring_physician": fields["referring_physician"],
                "institution_name": fields["institution_name"],
                "patient_age": fields["patient_age"],
                "body_part": fields["body_part"],
                **_worklist_fields(fields),
            },
        )
    series, series_created = Series.objects.get_or_create(
        series_instance_uid=parsed.series_instance_uid,
        defaults={
            "study": study,
            "modality": fields["modality"],
            "series_number": fields["series_number"],
            "description": fields["series_description"],
            "series_date": fields["series_date"],
            "series_time": fields["series_time"],
            "body_part": fields["body_part"],
            "laterality": fields["laterality"],
            "frame_of_reference_uid": fields["frame_of_reference_uid"],
        },
    )
    if series.study_id != study.id:
        raise DicomRejected("inconsistent", "this Series Instance UID belongs to another study")
    if series_created:
        _announce_new_series(study, first_series=study_created)
    return series.pk, study.pk, series_created, study.modalities


def _worklist_fields(fields: dict) -> dict:
    """What the worklist sorts and filters on, decided once when the study arrives."""
    is_stat = is_stat_order(fields["requested_priority"], fields["study_description"])
    return {
        "modality": fields["modality"],
        "patient_name_search": fields["patient_name"].upper(),
        "clinical_area": clinical_area_of(
            modality=fields["modality"], body_part=fields["body_part"], description=fields["study_description"]
        ),
        "is_stat": is_stat,
        "priority": priority_of(ai_urgent=False, is_stat=is_stat),
    }


def _announce_new_series(study: Study, *, first_series: bool) -> None:
    # Only a new study or series is announced: per-instance events would flood open worklists.
    Study.objects.filter(pk=study.pk).update(version=F("version") + 1)
    version = Study.objects.filter(pk=study.pk).values_list("version", flat=True).get()
    live.announce_study_change(
        study_id=study.pk, site_id=study.site_id, version=version, kind="new_study" if first_series else "new_series"
    )


def _instance_values(parsed: ParsedInstance, *, key: str, digest: str, source: str, source_detail: str) -> dict:
    fields = parsed.index
    return {
        "sop_class_uid": parsed.sop_class_uid,
        "transfer_syntax_uid": parsed.transfer_syntax_uid,
        "instance_number": fields["instance_number"],
        "image_position": fields["image_position"],
        "image_orientation": fields["image_orientation"],
        "slice_location": fields["slice_location"],
        "slice_thickness": fields["slice_thickness"],
        "pixel_spacing": fields["pixel_spacing"],
        "rows": _positive(fields["rows"]),
        "columns": _positive(fields["columns"]),
        "number_of_frames": _positive(fields["number_of_frames"]) or 1,
        "samples_per_pixel": _positive(fields["samples_per_pixel"]),
        "photometric_interpretation": fields["photometric_interpretation"],
        "bits_allocated": _positive(fields["bits_allocated"]),
        "bits_stored": _positive(fields["bits_stored"]),
        "pixel_representation": _positive(fields["pixel_representation"]),
        "rescale_slope": fields["rescale_slope"],
        "rescale_intercept": fields["rescale_intercept"],
        "window_center": fields["window_center"],
        "window_width": fields["window_width"],
        "laterality": fields["laterality"],
        "view_position": fields["view_position"],
        "burned_in_annotation": fields["burned_in_annotation"],
        "has_pixels": parsed.has_pixels,
        "pixel_problem": parsed.pixel_problem[:300],
        "pixels_checked": not parsed.has_pixels or bool(parsed.pixel_problem),
        "index_warnings": parsed.warnings[:20],
        "file_key": key,
        "file_size": len(parsed.part10),
        "sha256": digest,
        "source": source,
        "source_detail": source_detail[:64],
    }


def _positive(value: int | None) -> int | None:
    return value if isinstance(value, int) and 0 <= value < 2**31 else None


def site_for_code(code: str) -> Site:
    return Site.objects.get(code=code)
