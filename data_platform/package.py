"""The export package on disk: a work folder filled study by study (each study written to a
temporary folder and renamed, so a study is either complete or absent), then a deterministic zip
(sorted entries, fixed timestamps) built under a temporary name and renamed at the very end."""

import hashlib
import json
import os
import shutil
import zipfile
from pathlib import Path

from django.conf import settings

FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def exports_root() -> Path:
    root = Path(settings.DATA_EXPORT_DIR)
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def work_folder(export_id: int) -> Path:
    return exports_root() / f"export-{export_id}.work"


def package_path(export_id: int) -> Path:
    return exports_root() / f"export-{export_id}.zip"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_json(path: Path, data) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


def publish_folder(temporary: Path, final: Path) -> None:
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        shutil.rmtree(final)
    os.replace(temporary, final)


def build_zip(content: Path, final: Path) -> None:
    """Zip every file under `content` in sorted order with fixed timestamps; renamed into place."""
    temporary = final.with_name(final.name + ".partial")
    files = sorted(path for path in content.rglob("*") if path.is_file())
    with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_STORED) as archive:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(content).as_posix(), date_time=FIXED_TIME)
            info.external_attr = 0o644 << 16
            with path.open("rb") as source, archive.open(info, "w") as target:
                shutil.copyfileobj(source, target, 1 << 20)
    with temporary.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(temporary, final)


def dataset_card(*, definition: dict, counts: dict, options: dict, exclusions: list[dict], profile: list[str]) -> str:
    reasons: dict[str, int] = {}
    for exclusion in exclusions:
        for reason in exclusion["reasons"]:
            reasons[reason] = reasons.get(reason, 0) + 1
    lines = ["# Dataset card", "", "## Cohort definition", ""]
    lines += [f"- {key}: {value}" for key, value in sorted(definition.items()) if value not in (None, "", [])]
    lines += ["", "## Counts", ""] + [f"- {key}: {value}" for key, value in sorted(counts.items())]
    lines += ["", "## De-identification", "", "DICOM PS3.15 Annex E Basic Application Level Confidentiality Profile"]
    lines += [f"- {option}" for option in profile]
    lines += [f"- {key}: {value}" for key, value in sorted(options.items())]
    lines += ["", "## Exclusions by reason", ""]
    lines += [f"- {reason}: {count}" for reason, count in sorted(reasons.items())] or ["- none"]
    return "\n".join(lines) + "\n"
