"""Time from a group message sent in one process to its receipt in another, on the embedded
default's channel layer (accounts.database_layer, SQLite) and, as the reference, on Redis. Prints
figures, asserts nothing:

    .venv/bin/python bench/database_layer_bench.py [--events 50] [--interval 0.1] [--rounds 2]
        [--redis-url redis://127.0.0.1:6379/0]

It migrates a fresh SQLite database in a temporary folder. Each round runs, for each layer in
turn, a receiver process (a channel in one group, as the web server's worklist hub) and a sender
process that sends --events messages through accounts.user_sockets.send_to_group, as the DICOM
listener and the AI dispatcher announce their changes, one every --interval seconds give or take
half of it (so that the sends fall anywhere between two reads of the table). Latency runs from
the start of the send to the receipt, on the one monotonic clock of the machine; the send time is
what the announcement costs the sender (on the database layer: an insert and its commit)."""

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
GROUP = "bench-latency"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def setup_django() -> None:
    sys.path.insert(0, str(PROJECT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def receive(events: int) -> None:
    setup_django()
    from channels.layers import get_channel_layer

    async def main() -> list[float]:
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(GROUP, channel)
        print("ready", flush=True)
        latencies = []
        async with asyncio.timeout(60 + events):
            for _ in range(events):
                message = await layer.receive(channel)
                latencies.append(time.monotonic() - message["sent"])
        await layer.flush()
        return latencies

    print(json.dumps(asyncio.run(main())), flush=True)


def send(events: int, interval: float) -> None:
    setup_django()
    from accounts.user_sockets import send_to_group

    durations = []
    for number in range(events):
        time.sleep(interval * random.uniform(0.5, 1.5))  # noqa: S311 (spacing, not secrecy)
        started = time.monotonic()
        send_to_group(GROUP, {"type": "bench.event", "number": number, "sent": started})
        durations.append(time.monotonic() - started)
    print(json.dumps(durations), flush=True)


def one_run(environment: dict, events: int, interval: float) -> tuple[list[float], list[float]]:
    env = {**os.environ, **environment}
    script = str(Path(__file__).resolve())
    receiver = subprocess.Popen(
        [PYTHON, script, "--role", "receiver", "--events", str(events)],
        cwd=PROJECT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        if receiver.stdout.readline().strip() != "ready":
            raise RuntimeError("the receiver did not start")
        sender = subprocess.run(
            [PYTHON, script, "--role", "sender", "--events", str(events), "--interval", str(interval)],
            cwd=PROJECT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        latencies = json.loads(receiver.communicate(timeout=120)[0])
    finally:
        if receiver.poll() is None:
            receiver.kill()
            receiver.wait()
    return latencies, json.loads(sender.stdout)


def report(label: str, latencies: list[float], sends: list[float]) -> float:
    milliseconds = [value * 1000 for value in latencies]
    send_ms = [value * 1000 for value in sends]
    p50, p95 = statistics.median(milliseconds), percentile(milliseconds, 0.95)
    print(
        f"  {label:<28} delivery p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  max {max(milliseconds):6.1f} ms"
        f"   send p50 {statistics.median(send_ms):5.2f} ms  p95 {percentile(send_ms, 0.95):5.2f} ms"
    )
    return p50, p95


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=50)
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between two sends, on average")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", ""), help="the reference; empty: none")
    parser.add_argument("--role", choices=["receiver", "sender"], help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.role == "receiver":
        return receive(arguments.events)
    if arguments.role == "sender":
        return send(arguments.events, arguments.interval)

    work = Path(tempfile.mkdtemp(prefix="database-layer-bench-"))
    database = {
        "DEBUG": "false",
        "VAR_DIR": str(work / "var"),
        "DATABASE_URL": f"sqlite:///{work / 'bench.sqlite3'}",
    }
    layers = {"database layer (SQLite)": {**database, "REDIS_URL": ""}}
    if arguments.redis_url:
        prefix = f"bench-layer-{os.getpid()}"
        layers["Redis (reference)"] = {**database, "REDIS_URL": arguments.redis_url, "CHANNEL_PREFIX": prefix}
    try:
        subprocess.run(
            [PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=PROJECT,
            env={**os.environ, **database},
            check=True,
        )
        results = {label: ([], []) for label in layers}
        print(f"{arguments.events} messages per round, one every {arguments.interval * 1000:.0f} ms on average")
        for round_number in range(1, arguments.rounds + 1):
            print(f"round {round_number}")
            for label, environment in layers.items():
                latencies, sends = one_run(environment, arguments.events, arguments.interval)
                results[label][0].extend(latencies)
                results[label][1].extend(sends)
                report(label, latencies, sends)
        print(f"all rounds ({arguments.rounds * arguments.events} messages each)")
        figures = {label: report(label, *values) for label, values in results.items()}
        if len(figures) == 2:
            (ours_p50, ours_p95), (redis_p50, redis_p95) = figures.values()
            print(f"  ratio database layer / Redis: p50 {ours_p50 / redis_p50:.1f}x  p95 {ours_p95 / redis_p95:.1f}x")
        print(f"  load average (1 min): {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
