"""The background decode check: ingest only reads headers, so each new image is decoded once
afterwards and a frame the viewer could not show is flagged on its Instance row."""

import logging

from django.conf import settings
from django.tasks import task

from dicomkit.pixel_check import decode_problem
from worklist import archive_files
from worklist.models import Instance

logger = logging.getLogger(__name__)


@task()
def check_instance_pixels(instance_id: int) -> str:
    """Decode the first frame of the instance's file and record the outcome; return the problem."""
    row = Instance.objects.filter(pk=instance_id).values("file_key").first()
    if row is None:
        return ""  # deleted before the check ran
    path = archive_files.path_of(row["file_key"])
    if not path.exists():
        return ""  # an ingest racing on identical bytes rewrites it; left unchecked rather than flagged
    problem = decode_problem(path, max_frame_bytes=settings.MAX_PIXEL_BYTES)
    # Conditional on the key: a file replaced meanwhile gets its own check.
    Instance.objects.filter(pk=instance_id, file_key=row["file_key"]).update(
        pixel_problem=problem[:300], pixels_checked=True
    )
    if problem:
        logger.info("instance %s pixels flagged", instance_id)
    return problem
