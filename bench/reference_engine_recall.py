"""Recall, false positives and time of the built-in reference engine on generated studies with
planted lesions, per clinical area, over a range of seeds. Prints figures; it is not a test.

    .venv/bin/python bench/reference_engine_recall.py [--areas mammography chest-x-ray lung-ct]
                                                      [--seeds 10-29] [--scale 1.0] [--demo]

A planted lesion counts as found when a reported finding's centre lies within its radius plus
8 mm (on its own view for radiographs and mammograms, on the box3d for CT). Every reported
finding that matches no lesion is a false positive; normal studies (same seeds, no lesion) are
analysed too. Time is the analysis alone (analyse_datasets), not the generation, as wall time and as CPU time
of this process (the fairer figure on a shared machine). `--demo` also checks the demo
catalogue's chest radiographs and mammograms (dicomkit.synthetic.demo_catalogue) at that scale.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from ai_overlays.reference_engine import analyse_datasets  # noqa: E402
from dicomkit.synthetic import chest_ct, chest_xray, demo_catalogue, mammography_exam  # noqa: E402

TOLERANCE_MM = 8.0


def _box_centre(finding) -> tuple[float, float]:
    if "point" in finding:
        return tuple(finding["point"])
    x0, y0, x1, y1 = finding["box"]
    return (x0 + x1) / 2, (y0 + y1) / 2


def _flat_hits(study, payload) -> tuple[int, int]:
    """(lesions found, findings matching none) for findings on single images."""
    spacing = float(study.datasets[0].PixelSpacing[0])
    findings = [f for f in payload["findings"] if "sop_instance_uid" in f]
    used, found = set(), 0
    for lesion in study.lesions:
        reach = (lesion.diameter_mm / 2 + TOLERANCE_MM) / spacing
        hits = [
            index
            for index, finding in enumerate(findings)
            if finding["sop_instance_uid"] == lesion.sop_instance_uid
            and np.hypot(*(np.array(_box_centre(finding)) - np.array(lesion.centre_voxel[:2]) - 0.5)) <= reach
        ]
        found += bool(hits)
        used.update(hits)
    return found, len(findings) - len(used)


def _volume_hits(study, payload) -> tuple[int, int]:
    spacing = float(study.datasets[0].PixelSpacing[0])
    order = [ds.SOPInstanceUID for ds in sorted(study.datasets, key=lambda ds: float(ds.ImagePositionPatient[2]))]
    boxes = [f["box3d"] for f in payload["findings"] if "box3d" in f]
    used, found = set(), 0
    for lesion in study.lesions:
        index = order.index(lesion.sop_instance_uid)
        reach = (lesion.diameter_mm / 2 + TOLERANCE_MM) / spacing
        hits = [
            number
            for number, box in enumerate(boxes)
            if box["min"][2] - 1 <= index <= box["max"][2] + 1
            and np.hypot(
                (box["min"][0] + box["max"][0]) / 2 - lesion.centre_voxel[0] - 0.5,
                (box["min"][1] + box["max"][1]) / 2 - lesion.centre_voxel[1] - 0.5,
            )
            <= reach
        ]
        found += bool(hits)
        used.update(hits)
    return found, len(boxes) - len(used)


AREAS = {
    "mammography": (
        "breast",
        lambda seed, scale, planted: mammography_exam(
            rows=round(2048 * scale), columns=round(1664 * scale), seed=seed, mass=planted
        ),
        _flat_hits,
    ),
    "chest-x-ray": (
        "lung",
        lambda seed, scale, planted: chest_xray(size=round(2048 * scale), seed=seed, nodule=planted),
        _flat_hits,
    ),
    "lung-ct": (
        "lung",
        lambda seed, scale, planted: chest_ct(
            slices=round(300 * scale), size=round(512 * scale), seed=seed, nodule_count=None if planted else 0
        ),
        _volume_hits,
    ),
}


def run(area: str, seeds: list[int], scale: float) -> None:
    clinical_area, generate, hits = AREAS[area]
    planted = found = false_planted = false_normal = worst_normal = 0
    times, cpu_times, normal_scores, missed = [], [], [], []
    for seed in seeds:
        for with_lesion in (True, False):
            study = generate(seed, scale, with_lesion)
            started, cpu_started = time.perf_counter(), time.process_time()
            payload = analyse_datasets(study.datasets, clinical_area)[0]
            times.append(time.perf_counter() - started)
            cpu_times.append(time.process_time() - cpu_started)
            hit, false = hits(study, payload)
            if with_lesion:
                planted += len(study.lesions)
                found += hit
                false_planted += false
                if hit < len(study.lesions):
                    missed.append(seed)
            else:
                false_normal += false
                worst_normal = max(worst_normal, false)
                normal_scores.append(payload["case_score"])
    count = len(seeds)
    print(
        f"{area}: recall {found}/{planted} ({100 * found / max(planted, 1):.0f}%), missed on seeds {missed}; "
        f"false positives {false_planted / count:.2f}/study with lesions, {false_normal / count:.2f}/normal study "
        f"(worst {worst_normal}); normal case score median {np.median(normal_scores):.0f} "
        f"max {max(normal_scores):.0f}; "
        f"analysis median {np.median(times):.2f} s, max {max(times):.2f} s "
        f"(CPU median {np.median(cpu_times):.2f} s, max {max(cpu_times):.2f} s)",
        flush=True,
    )


def run_demo(scale: float) -> None:
    """Every planted lesion of the demo's radiographs and mammograms, found or not, and the case
    score of each study."""
    for study in demo_catalogue(scale=scale, kinds={"chest_xray", "mammography"}):
        payload = analyse_datasets(study.datasets, study.clinical_area)[0]
        found, false = _flat_hits(study, payload)
        print(
            f"demo {study.modality} at scale {scale}: found {found}/{len(study.lesions)} "
            f"({', '.join(f'{lesion.diameter_mm:g} mm' for lesion in study.lesions) or 'normal'}), "
            f"{false} false positive(s), case score {payload['case_score']:g}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--areas", nargs="+", choices=sorted(AREAS), default=sorted(AREAS))
    parser.add_argument("--seeds", default="10-29", help="first-last, inclusive")
    parser.add_argument("--scale", type=float, default=1.0, help="image size relative to the demo's full size")
    parser.add_argument("--demo", action="store_true", help="also check the demo catalogue's projections")
    options = parser.parse_args()
    if options.demo:
        run_demo(options.scale)
    first, last = (int(part) for part in options.seeds.split("-"))
    for area in options.areas:
        run(area, list(range(first, last + 1)), options.scale)


if __name__ == "__main__":
    main()
