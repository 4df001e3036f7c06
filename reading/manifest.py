"""A study as the viewer opens it: its series of image frames in display order, with what the
viewer needs to draw each frame (size, served type, geometry, default window) decided from the
index alone, so the manifest answers before any pixel is decoded.

Display order is by position along the slice normal (PS3.3 C.7.6.2.1.1), the frame with the
largest projection first (head first for an axial series in LPS, as Cornerstone sorts), when
every frame has a position and all share one orientation; otherwise by Instance Number, then
frame number. Objects without pixel frames or that are not images (SR, SEG, KOS, PDF,
presentation states, RT structures) are left out of the series list."""

import hashlib
import math
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

import numpy as np
from django.db.models import QuerySet
from django.urls import reverse

from accounts.models import User
from dicomkit.pixels import (
    SERVED_TYPES,
    FrameHeader,
    InstanceHeader,
    PixelDecodeError,
    PixelHeader,
    read_instance_header,
)
from reading import pixel_cache
from reading.pixel_cache import FrameSource
from worklist import archive_files
from worklist.access import visible_studies
from worklist.models import Instance, Series, Study

# SOP classes with pixel data that are not pictures to read: segmentations and other derived
# data (66.x), SR and KOS (88.x), presentation states (11.x), waveforms (9.x), PDF/CDA (104.x),
# RT structures and plans (481.3 and up; RT Image 481.1 and RT Dose 481.2 are images).
NON_IMAGE_SOP_CLASS_PREFIXES = tuple(
    f"1.2.840.10008.5.1.4.1.1.{group}."
    for group in ("66", "88", "11", "9", "104", "481.3", "481.4", "481.5", "481.6", "481.7", "481.8", "481.9")
)
PARALLEL = 0.999  # cosine between slice normals still counted as one orientation
URL_PLACEHOLDER = "0.0.0"  # a UID-shaped stand-in, replaced per frame
RECENT_SERIES = 32  # series whose frames a process keeps (each ranged request needs them)
INSTANCE_FIELDS = (
    "id",
    "series_id",
    "sop_instance_uid",
    "sop_class_uid",
    "transfer_syntax_uid",
    "instance_number",
    "image_position",
    "image_orientation",
    "slice_location",
    "pixel_spacing",
    "rows",
    "columns",
    "number_of_frames",
    "samples_per_pixel",
    "photometric_interpretation",
    "bits_allocated",
    "bits_stored",
    "pixel_representation",
    "rescale_slope",
    "rescale_intercept",
    "window_center",
    "window_width",
    "laterality",
    "view_position",
    "has_pixels",
    "pixel_problem",
    "file_key",
    "sha256",
)


@dataclass(frozen=True)
class Frame:
    """One frame of a series as the viewer shows it; `index` is its place in display order."""

    index: int
    instance: Instance
    number: int  # 1-based frame number within the instance, as in DICOM
    header: PixelHeader
    geometry: FrameHeader
    problem: str = ""

    @property
    def source(self) -> FrameSource:
        return FrameSource(
            sha256=self.instance.sha256,
            file_key=self.instance.file_key,
            number=self.number,
            header=self.header,
            problem=self.problem,
        )


@dataclass(frozen=True)
class Window:
    center: float
    width: float
    source: str  # "header", "pixels" (the range of the series' first frame) or "range" (of the type)


def image_instances(queryset: QuerySet[Instance]) -> QuerySet[Instance]:
    return queryset.filter(has_pixels=True).only(*INSTANCE_FIELDS)


def is_image(instance: Instance) -> bool:
    return instance.has_pixels and not instance.sop_class_uid.startswith(NON_IMAGE_SOP_CLASS_PREFIXES)


def series_frames(series: Series) -> list[Frame]:
    """The frames of the series in display order. Every ranged request of the viewer needs them:
    they are kept per process, keyed by the content of the series (one light query), since
    building 300 frames from their rows cost more than the pixels of a small range."""
    contents = _contents_key(series.instances.filter(has_pixels=True).values_list("sha256", "pixel_problem"))
    frames = _recent_series.get(series.pk, contents)
    if frames is None:
        instances = list(image_instances(series.instances.all()))
        frames = display_order(instance_frames(instances))
        _recent_series.put(series.pk, _contents_key((one.sha256, one.pixel_problem) for one in instances), frames)
    return frames


def _contents_key(rows: Iterable[tuple[str, str]]) -> str:
    """What the frames of a series derive from: its stored files (a file's bytes never change,
    nor what is read from them) and the problems found in them after ingest."""
    digest = hashlib.sha256()
    for sha256, problem in sorted(rows):
        digest.update(f"{sha256}|{problem}\n".encode())
    return digest.hexdigest()


class _RecentSeries:
    """A small LRU of series frames, shared by the threads of a process."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.lock = threading.Lock()
        self.entries: OrderedDict[int, tuple[str, list[Frame]]] = OrderedDict()

    def get(self, series_id: int, contents: str) -> list[Frame] | None:
        with self.lock:
            entry = self.entries.get(series_id)
            if entry is None or entry[0] != contents:
                return None
            self.entries.move_to_end(series_id)
            return entry[1]

    def put(self, series_id: int, contents: str, frames: list[Frame]) -> None:
        with self.lock:
            self.entries[series_id] = (contents, frames)
            self.entries.move_to_end(series_id)
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)


_recent_series = _RecentSeries(RECENT_SERIES)


def instance_frames(instances: Iterable[Instance]) -> list[Frame]:
    """Every frame of these image instances, unordered, each with its header from the index or,
    where the index cannot tell, from the stored file's header."""
    instances = [instance for instance in instances if is_image(instance)]
    lut_series = _series_with_modality_lut(instances)
    frames: list[Frame] = []
    for instance in instances:
        if instance.number_of_frames == 1 and instance.series_id not in lut_series:
            frames.append(Frame(0, instance, 1, pixel_header(instance), _geometry(instance), _problem(instance)))
            continue
        header = _header_from_file(instance)
        if isinstance(header, str):
            frames += _unreadable_frames(instance, instance.pixel_problem or header)
            continue
        frames += [
            Frame(0, instance, number, header.frame_pixels(number), geometry, instance.pixel_problem)
            for number, geometry in enumerate(header.frames, start=1)
        ]
    return frames


def _series_with_modality_lut(instances: list[Instance]) -> set[int]:
    """Series whose first single-frame instance has a Modality LUT Sequence, which the index does
    not record; every instance of such a series is then read from its file's header. (Multi-frame
    objects always are: their per-frame values live in functional groups.)"""
    first_of_series: dict[int, Instance] = {}
    for instance in instances:
        if instance.number_of_frames == 1 and instance.rows and instance.columns and not instance.pixel_problem:
            first_of_series.setdefault(instance.series_id, instance)
    return {
        series_id
        for series_id, instance in first_of_series.items()
        if isinstance(header := _header_from_file(instance), InstanceHeader) and header.pixels.modality_lut_bits
    }


@lru_cache(maxsize=4096)
def _cached_header(sha256: str, file_key: str) -> InstanceHeader | str:
    # Keyed by content: a stored file never changes, so its header (or why it cannot be read)
    # may be kept for the life of the process; a failure that may pass is not kept.
    try:
        return read_instance_header(archive_files.path_of(file_key))
    except PixelDecodeError as problem:
        if not problem.lasting:
            raise
        return problem.reason


def _header_from_file(instance: Instance) -> InstanceHeader | str:
    try:
        return _cached_header(instance.sha256, instance.file_key)
    except PixelDecodeError as problem:
        return problem.reason


def _unreadable_frames(instance: Instance, reason: str) -> list[Frame]:
    header = pixel_header(instance)
    geometry = _geometry(instance)
    return [Frame(0, instance, number, header, geometry, reason) for number in range(1, instance.number_of_frames + 1)]


def pixel_header(instance: Instance) -> PixelHeader:
    return PixelHeader(
        rows=instance.rows or 0,
        columns=instance.columns or 0,
        samples_per_pixel=instance.samples_per_pixel or 1,
        photometric=instance.photometric_interpretation or "MONOCHROME2",
        bits_allocated=instance.bits_allocated or 16,
        bits_stored=instance.bits_stored,
        pixel_representation=instance.pixel_representation or 0,
        rescale_slope=instance.rescale_slope,
        rescale_intercept=instance.rescale_intercept,
        number_of_frames=instance.number_of_frames,
        transfer_syntax=instance.transfer_syntax_uid,
    )


def _geometry(instance: Instance) -> FrameHeader:
    return FrameHeader(
        image_position=instance.image_position,
        image_orientation=instance.image_orientation,
        pixel_spacing=instance.pixel_spacing,
        slice_location=instance.slice_location,
        rescale_slope=instance.rescale_slope,
        rescale_intercept=instance.rescale_intercept,
        window_center=instance.window_center,
        window_width=instance.window_width,
    )


def _problem(instance: Instance) -> str:
    if instance.pixel_problem:
        return instance.pixel_problem
    if not instance.rows or not instance.columns:
        return "Rows or Columns missing or zero"
    return ""


def display_order(frames: list[Frame]) -> list[Frame]:
    normal = _common_normal(frames)
    if normal is not None:

        def key(frame: Frame) -> tuple:
            distance = _dot(frame.geometry.image_position, normal)
            return (-round(distance, 4), _instance_number_key(frame), frame.number)

    else:

        def key(frame: Frame) -> tuple:
            return (_instance_number_key(frame), frame.number)

    return [replace(frame, index=index) for index, frame in enumerate(sorted(frames, key=key))]


def _instance_number_key(frame: Frame) -> tuple:
    number = frame.instance.instance_number
    return (number is None, number or 0, frame.instance.sop_instance_uid)


def _common_normal(frames: list[Frame]) -> tuple[float, float, float] | None:
    """The slice normal shared by all frames, or None when one lacks geometry or they differ.
    (Plain arithmetic: numpy's cross product costs more than the rest of a 300-frame series.)"""
    normal = None
    for frame in frames:
        position, orientation = frame.geometry.image_position, frame.geometry.image_orientation
        if not position or not orientation:
            return None
        this = _unit_normal(orientation)
        if this is None:
            return None
        if normal is None:
            normal = this
        elif abs(_dot(normal, this)) < PARALLEL:
            return None
    return normal


def _unit_normal(orientation: list[float]) -> tuple[float, float, float] | None:
    (rx, ry, rz), (cx, cy, cz) = orientation[:3], orientation[3:]
    x, y, z = ry * cz - rz * cy, rz * cx - rx * cz, rx * cy - ry * cx
    length = math.sqrt(x * x + y * y + z * z)
    return None if length < 1e-6 else (x / length, y / length, z / length)


def _dot(first, second) -> float:
    return sum(a * b for a, b in zip(first, second))


def frames_etag(frames: Iterable[Frame]) -> str:
    """Changes exactly when the bytes sent for these frames would: the stored files' digests,
    frame numbers, served types and the decode cache's format."""
    digest = hashlib.sha256(pixel_cache.CACHE_FORMAT.encode())
    for frame in frames:
        digest.update(f"|{frame.source.cache_key}:{bool(frame.problem)}".encode())
    return f'"{digest.hexdigest()[:40]}"'


# --- windows -----------------------------------------------------------------------------------
def default_windows(frames: list[Frame]) -> dict[int, Window]:
    """The default window of each frame: from its header; else the value range of the first such
    frame of the series (decoded now, which also warms the cache for the viewer's first request);
    else the range the header allows."""
    windows: dict[int, Window] = {}
    from_pixels: dict[str, Window | None] = {}
    for frame in frames:
        geometry = frame.geometry
        if frame.header.is_colour:
            windows[frame.index] = Window(127.5, 256.0, "range")
        elif geometry.window_center is not None and geometry.window_width and geometry.window_width > 0:
            windows[frame.index] = Window(geometry.window_center, geometry.window_width, "header")
        else:
            served = frame.header.served_type
            if served not in from_pixels:
                from_pixels[served] = _window_from_pixels(frame)
            windows[frame.index] = from_pixels[served] or _window_from_range(frame.header)
    return windows


def _window_from_pixels(frame: Frame) -> Window | None:
    if frame.problem or not frame.header.frame_bytes:
        return None
    decoded = pixel_cache.frames([frame.source])[0]
    if decoded.problem:
        return None
    values = np.frombuffer(decoded.data, dtype=SERVED_TYPES[frame.header.served_type])
    low, high = float(values.min()), float(values.max())
    return Window((low + high + 1) / 2, max(high - low + 1, 1.0), "pixels")


def _window_from_range(header: PixelHeader) -> Window:
    low, high = header.value_range()
    return Window((low + high + 1) / 2, max(high - low + 1, 1.0), "range")


# --- the manifest ------------------------------------------------------------------------------
def study_manifest(study: Study, *, user: User) -> dict[str, Any]:
    instances_by_series: dict[int, list[Instance]] = {}
    for instance in image_instances(Instance.objects.filter(series__study=study)):
        instances_by_series.setdefault(instance.series_id, []).append(instance)
    series_list = []
    for series in study.series.all():
        instances = instances_by_series.get(series.pk, [])
        frames = display_order(instance_frames(instances))
        # The viewer's ranged requests follow at once: spare them building these frames again.
        _recent_series.put(series.pk, _contents_key((one.sha256, one.pixel_problem) for one in instances), frames)
        if frames:
            series_list.append(_series_json(series, frames))
    return {"study": _study_json(study), "priors": _priors_json(study, user), "series": series_list}


def _study_json(study: Study) -> dict[str, Any]:
    patient = study.patient
    return {
        "uid": study.study_instance_uid,
        "patient_name": patient.display_name,
        "patient_id": patient.patient_id,
        "patient_sex": patient.sex,
        "patient_age": study.patient_age,
        "birth_date": patient.birth_date.isoformat() if patient.birth_date else None,
        "study_date": study.study_date.isoformat() if study.study_date else None,
        "study_time": study.study_time.isoformat() if study.study_time else None,
        "description": study.description,
        "accession": study.accession_number,
        "site": study.site.code,
        "modalities": _modalities(study.modalities),
    }


def _priors_json(study: Study, user: User) -> list[dict[str, Any]]:
    priors = (
        visible_studies(user)
        .filter(patient_id=study.patient_id)
        .exclude(pk=study.pk)
        .order_by("-study_date", "-study_time", "-received_at")
        .only("study_instance_uid", "study_date", "description", "modalities")
    )
    return [
        {
            "uid": prior.study_instance_uid,
            "study_date": prior.study_date.isoformat() if prior.study_date else None,
            "description": prior.description,
            "modalities": _modalities(prior.modalities),
        }
        for prior in priors
    ]


def _modalities(value: str) -> list[str]:
    return [modality for modality in value.split(",") if modality]


def _series_json(series: Series, frames: list[Frame]) -> dict[str, Any]:
    first = frames[0].instance
    windows = default_windows(frames)
    # One reverse() per series, not per frame: 300 of them were a fifth of the manifest's time.
    frame_url = reverse("reading:frame", args=[URL_PLACEHOLDER, 1]).removesuffix("/1")
    return {
        "uid": series.series_instance_uid,
        "number": series.series_number,
        "modality": series.modality,
        "description": series.description,
        "body_part": series.body_part,
        "laterality": series.laterality or first.laterality,
        "view_position": first.view_position,
        "frame_of_reference_uid": series.frame_of_reference_uid,
        "thumbnail_url": reverse("reading:thumbnail", args=[series.series_instance_uid]),
        "frames_url": reverse("reading:series_frames", args=[series.series_instance_uid]),
        "frames_version": frames_etag(frames).strip('"'),
        "frame_count": len(frames),
        "frames": [frame_json(frame, windows[frame.index], frame_url=frame_url) for frame in frames],
    }


def frame_json(frame: Frame, window: Window, *, frame_url: str) -> dict[str, Any]:
    """`frame_url`: the frame endpoint's URL with URL_PLACEHOLDER for the SOP Instance UID and
    without the frame number, reversed once per series."""
    instance, header, geometry = frame.instance, frame.header, frame.geometry
    return {
        "index": frame.index,
        "sop_uid": instance.sop_instance_uid,
        "frame": frame.number,
        "instance_number": instance.instance_number,
        "rows": header.rows,
        "columns": header.columns,
        "dtype": header.served_type,
        "photometric": header.served_photometric,
        "pixel_spacing": geometry.pixel_spacing,
        "image_position": geometry.image_position,
        "image_orientation": geometry.image_orientation,
        "slice_location": geometry.slice_location,
        "window_center": window.center,
        "window_width": window.width,
        "window_source": window.source,
        "rescaled": True,
        "problem": frame.problem,
        "url": f"{frame_url.replace(URL_PLACEHOLDER, instance.sop_instance_uid)}/{frame.number}",
        "laterality": instance.laterality,
        "view_position": instance.view_position,
    }
