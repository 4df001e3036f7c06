"""De-identification throughput (instances per second) on a 300-slice 512x512 chest CT: this
project's dicomkit.deidentify side by side with dicognito on the same files, in one run. Each way
reads the file, de-identifies it and writes the result (to memory, so disk speed does not decide).
Prints figures; it is not a test.

    .venv/bin/python bench/deidentify_bench.py [--slices 300] [--size 512] [--rounds 3]

The figure per way is the best of `rounds` passes over the whole series (the machine is shared, so
the best pass is the least disturbed one); the median is printed beside it, and the process CPU
time per instance of the best pass (less sensitive to other sessions' load than the wall clock).
"""

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from pydicom import dcmread  # noqa: E402

from dicomkit.deidentify import Keys, Options, PatientMapping, deidentify_file  # noqa: E402
from dicomkit.synthetic import chest_ct  # noqa: E402


def series_files(slices: int, size: int) -> list[bytes]:
    study = chest_ct(slices=slices, size=size, seed=7, nodule_count=1)
    files = []
    for dataset in study.datasets:
        buffer = io.BytesIO()
        dataset.save_as(buffer, enforce_file_format=True)
        files.append(buffer.getvalue())
    return files


def ours(files: list[bytes]) -> None:
    keys = Keys(secret=b"bench-secret-key-0123456789abcdef")
    patient = PatientMapping(pseudonym="BENCHPSEUDONYM01", date_offset_days=-123)
    options = Options()
    for data in files:
        output = deidentify_file(data, keys=keys, patient=patient, options=options, site_pseudonym="SITE-A")
        io.BytesIO().write(output)  # the same in-memory write dicognito's way gets


def dicognito(files: list[bytes]) -> None:
    from dicognito.anonymizer import Anonymizer

    anonymizer = Anonymizer(seed="bench")
    for data in files:
        dataset = dcmread(io.BytesIO(data))
        anonymizer.anonymize(dataset)
        dataset.save_as(io.BytesIO(), enforce_file_format=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=300)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    started = time.perf_counter()
    files = series_files(args.slices, args.size)
    megabytes = sum(len(data) for data in files) / 1e6
    print(f"series: {len(files)} instances, {megabytes:.0f} MB, made in {time.perf_counter() - started:.1f} s")

    rates: dict[str, list[float]] = {"dicomkit.deidentify": [], "dicognito 0.19": []}
    cpu: dict[str, list[float]] = {name: [] for name in rates}
    for _ in range(args.rounds):  # interleaved, so both ways see the same machine load
        for name, way in (("dicomkit.deidentify", ours), ("dicognito 0.19", dicognito)):
            began, began_cpu = time.perf_counter(), time.process_time()
            way(files)
            rates[name].append(len(files) / (time.perf_counter() - began))
            cpu[name].append((time.process_time() - began_cpu) * 1000 / len(files))
    for name, values in rates.items():
        print(
            f"{name:22s} best {max(values):7.1f} inst/s   median {statistics.median(values):7.1f} inst/s"
            f"   CPU {min(cpu[name]):5.2f} ms/inst"
        )
    ratio = max(rates["dicomkit.deidentify"]) / max(rates["dicognito 0.19"])
    print(f"ratio (best / best): {ratio:.2f}x  (target >= 2x)")


if __name__ == "__main__":
    main()
