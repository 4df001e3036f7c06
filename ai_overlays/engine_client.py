"""Telling a vendor engine over HTTP that a study waits for it: one JSON POST to the engine's
endpoint. The engine then fetches the images by WADO-RS and posts its result to the intake API,
so a 2xx here means only "the engine has the notice"."""

import json
import socket
import urllib.error
import urllib.request

from django.conf import settings
from django.urls import reverse

from ai_overlays.models import AIJob
from worklist.models import Study

NOTICE_TIMEOUT_SECONDS = 10


class EngineUnreachable(Exception):
    """The notice did not reach the engine; `reason` is short and holds no patient data."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def public_base_url() -> str:
    """Our address as an engine sees it (engines run on other hosts in production)."""
    return settings.PUBLIC_BASE_URL.rstrip("/")


def study_notice(job: AIJob) -> dict:
    """The body an engine receives: what to analyse, where to fetch it and where to answer."""
    study = job.study
    base = public_base_url()
    # The STOW-RS route is "<root>studies"; the WADO-RS root is the part before it.
    dicomweb_root = reverse("dicomweb:stow").removesuffix("studies")
    return {
        "job_id": job.pk,
        "study_instance_uid": study.study_instance_uid,
        "site": study.site.code,
        "modalities": study_modalities(study),
        "clinical_area": study.clinical_area,
        "wado_rs_root": base + dicomweb_root,
        "results_url": base + reverse("ai_overlays:api-result-create"),
    }


def study_modalities(study: Study) -> list[str]:
    """Study.modalities is comma-separated (worklist.ingest); spaces and DICOM backslashes are
    accepted too, as PACS and hand-made rows write them. A row without it has its first modality."""
    text = study.modalities.replace("\\", ",").replace(" ", ",")
    return [part for part in text.split(",") if part] or [study.modality]


def notify_engine(endpoint_url: str, notice: dict, *, timeout: float | None = None) -> int:
    """POST the notice; return the HTTP status, or raise EngineUnreachable for anything but 2xx."""
    timeout = NOTICE_TIMEOUT_SECONDS if timeout is None else timeout
    if not endpoint_url.startswith(("http://", "https://")):
        raise EngineUnreachable("the engine has no http(s) endpoint URL")
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        endpoint_url,
        data=json.dumps(notice).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Idempotency-Key": f"job-{notice['job_id']}"},
    )
    try:
        with _opener.open(request, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        # Never the body: an engine's error page may echo what we sent.
        raise EngineUnreachable(f"engine answered HTTP {exc.code}") from None
    except TimeoutError:
        raise EngineUnreachable(f"no answer within {timeout:g} s") from None
    except urllib.error.URLError as exc:
        raise EngineUnreachable(_connection_reason(exc.reason)) from None
    except (OSError, ValueError) as exc:
        raise EngineUnreachable(_connection_reason(exc)) from None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # urllib would turn a redirected POST into a GET without the notice; a 3xx is a failure.
    def redirect_request(self, *args, **kwargs):
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def _connection_reason(error: object) -> str:
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, TimeoutError):
        return "no answer in time"
    if isinstance(error, socket.gaierror):
        return "engine host name not found"
    return f"cannot reach the engine ({type(error).__name__})"
