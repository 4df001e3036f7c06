"""Time to store one AI result with 20 findings and a heatmap on every slice of a 300-slice
512x512 CT, through ai_overlays.intake.store_result and through POST /ai/api/v1/results/ (Django
test client: the whole view, bearer auth and body reading included, no network). Prints figures;
it is not a test.

    .venv/bin/python bench/ai_intake_bench.py [--database-url postgres://...readingws_bench_ai]
                                              [--rounds 5] [--slices 300]

The default database is a fresh SQLite file in /tmp, migrated here; a PostgreSQL database is
created and migrated if needed. The study's index rows are made straight through the ORM (no
pixel files: intake reads only rows, columns and frame counts). Heatmaps are a smooth blob per
slice, so the PNGs compress as a real probability map does. Each round posts a new result_id;
the figure is the median wall time (and min / max) per way in and heatmap encoding.
"""

import argparse
import base64
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
FINDINGS = 20


def setup_django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("STORAGE_DIR", tempfile.mkdtemp(prefix="ai-intake-bench-"))
    sys.path.insert(0, str(PROJECT))
    import django

    django.setup()
    from django.core.management import call_command

    if database_url.startswith("postgres"):
        _create_postgres_database(database_url)
    call_command("migrate", verbosity=0)


def _create_postgres_database(database_url: str) -> None:
    import psycopg
    from django.conf import settings

    options = settings.DATABASES["default"]
    name = options["NAME"]
    with psycopg.connect(
        host=options["HOST"], port=options["PORT"] or 5432, user=options["USER"], dbname="postgres", autocommit=True
    ) as connection:
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            connection.execute(f'CREATE DATABASE "{name}"')


def make_study(slices: int, size: int):
    """A site, a study of one CT series of `slices` instances, a model and an engine with a token."""
    from pydicom.uid import generate_uid

    from accounts.models import ApiToken, Role, Site, User
    from ai_overlays.models import AIEngine, AIModel
    from worklist.models import Instance, Patient, Series, Study

    site, _ = Site.objects.get_or_create(code="BENCH", defaults={"name": "Bench"})
    patient, _ = Patient.objects.get_or_create(site=site, patient_id="BENCH-1")
    study = Study.objects.create(
        study_instance_uid=generate_uid(), patient=patient, site=site, modality="CT", modalities="CT"
    )
    series = Series.objects.create(series_instance_uid=generate_uid(), study=study, modality="CT")
    instances = Instance.objects.bulk_create(
        Instance(
            sop_instance_uid=generate_uid(),
            series=series,
            sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
            transfer_syntax_uid="1.2.840.10008.1.2.1",
            instance_number=number,
            rows=size,
            columns=size,
            file_key=f"bench/{generate_uid()}",
            file_size=size * size * 2,
            sha256="0" * 64,
            source="bench",
        )
        for number in range(1, slices + 1)
    )
    model, _ = AIModel.objects.get_or_create(
        vendor="Bench", product="LungNet", version="1.0", defaults={"clinical_area": "lung", "modalities": "CT"}
    )
    user, _ = User.objects.get_or_create(username="svc-bench", defaults={"role": Role.AI_ENGINE})
    engine, _ = AIEngine.objects.get_or_create(name="bench-engine", defaults={"user": user})
    engine.ai_models.add(model)
    engine.sites.add(site)
    _, key = ApiToken.issue(user=user, name="bench")
    return study, series, [instance.sop_instance_uid for instance in instances], model, engine, key


def heatmap_slices(slices: int, size: int) -> list[bytes]:
    """A Gaussian blob whose height varies along the volume, as uint8 bytes per slice."""
    import numpy as np

    axis = np.arange(size) - size / 2
    blob = np.exp(-(axis[None, :] ** 2 + axis[:, None] ** 2) / (2 * (size / 8) ** 2))
    return [(blob * 255 * np.sin(np.pi * (index + 0.5) / slices)).astype(np.uint8).tobytes() for index in range(slices)]


def encode(raw: bytes, size: int, encoding: str) -> str:
    if encoding == "raw":
        return base64.b64encode(raw).decode()
    from PIL import Image

    buffer = io.BytesIO()
    Image.frombytes("L", (size, size), raw).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def payload_for(study, series, sop_uids, model, heatmaps: list[str], *, encoding: str, size: int, result_id: str):
    step = max(1, len(sop_uids) // FINDINGS)
    return {
        "result_id": result_id,
        "model": {"vendor": model.vendor, "product": model.product, "version": model.version},
        "study_instance_uid": study.study_instance_uid,
        "case_score": 73.0,
        "findings": [
            {
                "type": "nodule",
                "label": f"Nodule {index}",
                "score": 50 + index,
                "sop_instance_uid": sop_uids[(index * step) % len(sop_uids)],
                "box": [100, 100, 140 + index, 150],
            }
            for index in range(FINDINGS)
        ],
        "heatmaps": [
            {
                "series_instance_uid": series.series_instance_uid,
                "sop_instance_uid": sop_uid,
                "frame": 1,
                "rows": size,
                "columns": size,
                "encoding": encoding,
                "data": data,
            }
            for sop_uid, data in zip(sop_uids, heatmaps, strict=True)
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=f"sqlite:///{tempfile.gettempdir()}/ai_intake_bench.sqlite3")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--slices", type=int, default=300)
    parser.add_argument("--size", type=int, default=512)
    arguments = parser.parse_args()
    setup_django(arguments.database_url)

    from django.db import connection
    from django.test import Client

    from ai_overlays.intake import store_result
    from ai_overlays.models import AIResult

    study, series, sop_uids, model, engine, key = make_study(arguments.slices, arguments.size)
    raw_slices = heatmap_slices(arguments.slices, arguments.size)
    client = Client(headers={"Authorization": f"Bearer {key}"})
    print(
        f"{connection.vendor}: {FINDINGS} findings + {arguments.slices} heatmaps of "
        f"{arguments.size}x{arguments.size}, {arguments.rounds} rounds"
    )
    print(f"{'way in':<14}{'encoding':<10}{'body MB':>9}{'stored MB':>11}{'median s':>10}{'min s':>8}{'max s':>8}")
    for encoding in ("raw", "png"):
        heatmaps = [encode(raw, arguments.size, encoding) for raw in raw_slices]
        for way in ("store_result", "HTTP API"):
            times, body_mb, stored_mb = [], 0.0, 0.0
            for round_number in range(arguments.rounds):
                result_id = f"bench-{encoding}-{way[:4]}-{round_number}-{time.time_ns()}"
                payload = payload_for(
                    study,
                    series,
                    sop_uids,
                    model,
                    heatmaps,
                    encoding=encoding,
                    size=arguments.size,
                    result_id=result_id,
                )
                body = json.dumps(payload)
                body_mb = len(body) / 1e6
                started = time.perf_counter()
                if way == "store_result":
                    assert store_result(payload=payload, engine=engine).created
                else:
                    response = client.post("/ai/api/v1/results/", data=body, content_type="application/json")
                    assert response.status_code == 201, response.content[:300]
                times.append(time.perf_counter() - started)
                result = AIResult.objects.get(result_id=result_id)
                stored_mb = sum(len(png) for png in result.heatmaps.values_list("png", flat=True)) / 1e6
            print(
                f"{way:<14}{encoding:<10}{body_mb:>9.1f}{stored_mb:>11.1f}"
                f"{statistics.median(times):>10.2f}{min(times):>8.2f}{max(times):>8.2f}"
            )
    AIResult.objects.filter(study=study).delete()


if __name__ == "__main__":
    main()
