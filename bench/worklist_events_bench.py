"""Time from a worklist change to the open worklists that show it (issue 3: p95 under 100 ms for
200 sockets). Prints figures, asserts nothing:

    REDIS_URL=redis://127.0.0.1:6379/0 .venv/bin/python bench/worklist_events_bench.py
        [--clients 200] [--events 50] [--interval 0.2]
        [--database-url postgres://postgres@127.0.0.1:5432/readingws_bench_events]

It starts daphne (config.asgi:application, DEBUG off) on a free loopback port, on a fresh SQLite
database in a temporary folder (or the PostgreSQL database of --database-url, dropped and created
again, dropped at the end) and a channel prefix of its own on the Redis of REDIS_URL. It creates
one site, --clients radiologists of that site with a session each, and opens one WebSocket per
radiologist with the `websockets` package, in a process of its own. Then it claims --events
studies one after the other through worklist.workflow in this process, which announces each
through Redis after its commit as production does, and records when each socket receives the row.
Latency runs from the moment the announcement starts (the commit is done) to the receipt, on the
one monotonic clock of the machine; the clients, Redis and this process share its two cores with
the server, so their own work is in the figures too, and so is whatever else the machine runs.
"""

import argparse
import asyncio
import multiprocessing
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

PROJECT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
TARGET_P95_MILLISECONDS = 100
ROW_ID = re.compile(r'id="study-(\d+)"')
OPEN_BATCH = 25  # sockets opened at once: daphne checks each session with a database query


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"daphne exited with {process.returncode} before listening")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_admin(database_url: str):
    import psycopg

    parts = urlsplit(database_url)
    admin_url = urlunsplit((parts.scheme, parts.netloc, "/postgres", "", ""))
    return psycopg.connect(admin_url, autocommit=True), parts.path.lstrip("/")


def recreate_postgres_database(database_url: str) -> None:
    connection, name = postgres_admin(database_url)
    with connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.execute(f'CREATE DATABASE "{name}"')


def drop_postgres_database(database_url: str) -> None:
    connection, name = postgres_admin(database_url)
    with connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')


def configure_django(environment: dict[str, str]) -> None:
    """Settings come from the environment, so it is set before Django reads it."""
    os.environ.update(environment)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    sys.path.insert(0, str(PROJECT))
    import django

    django.setup()


def create_readers_and_studies(*, clients: int, studies: int) -> tuple[list[str], object, list]:
    """One site, `clients` radiologists with a session each, a claiming colleague, the studies."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.management import call_command

    from accounts.models import Site, User
    from worklist.models import Patient, Study

    call_command("migrate", verbosity=0)
    site = Site.objects.create(code="SUWON", name="Suwon")
    readers = User.objects.bulk_create(User(username=f"bench.reader{number}") for number in range(clients))
    site.members.add(*readers)
    session_keys = []
    for reader in readers:
        session = SessionStore()
        session[SESSION_KEY] = str(reader.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = reader.get_session_auth_hash()
        session.create()
        session_keys.append(session.session_key)
    claimer = User.objects.create(username="bench.claimer", first_name="Seoyeon", last_name="Choi")
    claimer.sites.add(site)
    patient = Patient.objects.create(site=site, patient_id="BENCH-1", name="BENCH^PATIENT")
    created = [
        Study.objects.create(study_instance_uid=f"2.25.{number + 1}", patient=patient, site=site, modality="CT")
        for number in range(studies)
    ]
    return session_keys, claimer, created


async def open_clients(url: str, origin: str, session_keys: list[str]) -> list:
    from websockets.asyncio.client import connect

    clients = []
    for start in range(0, len(session_keys), OPEN_BATCH):
        batch = session_keys[start : start + OPEN_BATCH]
        clients += await asyncio.gather(
            *(
                connect(url, origin=origin, additional_headers={"Cookie": f"sessionid={key}"}, open_timeout=30)
                for key in batch
            )
        )
    return clients


async def listen(client, index: int, received: dict[tuple[int, int], float], row_sizes: list[int]) -> None:
    async for message in client:
        arrived = time.monotonic()
        match = ROW_ID.search(message[:200])
        if match:
            received.setdefault((index, int(match.group(1))), arrived)
            if index == 0:
                row_sizes.append(len(message.encode()))


async def wait_for_deliveries(expected: set[tuple[int, int]], received: dict, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not expected <= received.keys() and time.monotonic() < deadline:
        await asyncio.sleep(0.02)


def run_clients(url: str, origin: str, session_keys: list[str], parent) -> None:
    """The WebSocket clients, in a process of their own so that neither they nor the claims wait
    for the other's share of one interpreter; time.monotonic() is one clock for both processes."""
    asyncio.run(serve_parent(url, origin, session_keys, parent))


async def serve_parent(url: str, origin: str, session_keys: list[str], parent) -> None:
    started = time.monotonic()
    clients = await open_clients(url, origin, session_keys)
    received: dict[tuple[int, int], float] = {}
    row_sizes: list[int] = []
    listeners = [
        asyncio.create_task(listen(client, index, received, row_sizes)) for index, client in enumerate(clients)
    ]
    parent.send(time.monotonic() - started)
    loop = asyncio.get_running_loop()
    while True:
        command, expected = await loop.run_in_executor(None, parent.recv)
        if command == "stop":
            break
        await wait_for_deliveries(set(expected), received)
        parent.send(len(received))
    for task in listeners:
        task.cancel()
    await asyncio.gather(*(client.close() for client in clients), return_exceptions=True)
    parent.send((received, row_sizes))


def answer(connection, timeout: float = 60):
    if not connection.poll(timeout):
        raise RuntimeError(f"the client process did not answer within {timeout} s")
    return connection.recv()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def describe(values: list[float]) -> str:
    if not values:
        return "no values"
    milliseconds = [value * 1000 for value in values]
    return (
        f"p50 {statistics.median(milliseconds):6.1f} ms   p95 {percentile(milliseconds, 0.95):6.1f} ms   "
        f"max {max(milliseconds):6.1f} ms"
    )


def measure(arguments, session_keys: list[str], claimer, studies: list, port: int, server_pid: int) -> None:
    from worklist import live, workflow

    sent_at: dict[int, float] = {}
    send = live.send_to_group

    def timed_send(group: str, message: dict) -> None:
        sent_at[message["study_id"]] = time.monotonic()  # after the commit, as the announcement starts
        send(group, message)

    live.send_to_group = timed_send
    parent, child = multiprocessing.get_context("spawn").Pipe()
    url, origin = f"ws://127.0.0.1:{port}/ws/worklist/", f"http://127.0.0.1:{port}"
    clients = multiprocessing.get_context("spawn").Process(target=run_clients, args=(url, origin, session_keys, child))
    clients.start()
    try:
        print(f"{len(session_keys)} sockets open in {answer(parent):.1f} s")
        # The first row rendered in a fresh process imports the URLconf and builds the template
        # engine (about a second): the warm-up claim pays for it, before anything is measured.
        warm_up, *measured = studies
        workflow.claim_study(user=claimer, study=warm_up)
        parent.send(("wait", [(index, warm_up.pk) for index in range(len(session_keys))]))
        answer(parent)
        load_before = os.getloadavg()[0]
        cpu_before = cpu_seconds(server_pid)
        for study in measured:
            workflow.claim_study(user=claimer, study=study)
            time.sleep(arguments.interval)
        expected = [(index, study.pk) for index in range(len(session_keys)) for study in measured]
        parent.send(("wait", expected))
        answer(parent)
        cpu_used = cpu_seconds(server_pid) - cpu_before
        load_after = os.getloadavg()[0]
        parent.send(("stop", None))
        received, row_sizes = answer(parent)
    finally:
        clients.join(timeout=30)
        if clients.is_alive():
            clients.kill()

    deliveries = [received[key] - sent_at[key[1]] for key in expected if key in received]
    sockets = range(len(session_keys))
    last_socket = [
        max(received[(index, study.pk)] for index in sockets) - sent_at[study.pk]
        for study in measured
        if all((index, study.pk) in received for index in sockets)
    ]
    p95 = percentile(deliveries, 0.95) * 1000 if deliveries else float("inf")
    print()
    print(
        f"worklist live updates: {len(session_keys)} sockets of one site, {len(measured)} claims, "
        f"{arguments.interval * 1000:.0f} ms apart, Redis channel layer, {arguments.database_label}"
    )
    print(f"  commit -> each socket ({len(deliveries)} deliveries):  {describe(deliveries)}")
    print(f"  commit -> last of the {len(session_keys)} sockets (per claim):  {describe(last_socket)}")
    print(f"  deliveries missing after 10 s: {len(expected) - len(deliveries)}")
    if row_sizes:
        print(f"  row message: {statistics.mean(row_sizes):.0f} bytes")
    print(
        f"  server CPU per claim: {cpu_used / len(measured) * 1000:.1f} ms "
        f"({cpu_used / len(measured) / len(session_keys) * 1e6:.0f} us per socket)"
    )
    print(f"  load average (1 min) before / after the claims: {load_before:.2f} / {load_after:.2f}")
    verdict = "met" if p95 < TARGET_P95_MILLISECONDS else "NOT met"
    print(
        f"  target: p95 under {TARGET_P95_MILLISECONDS} ms per delivery: {verdict} "
        f"({p95 / TARGET_P95_MILLISECONDS:.2f}x the target)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--events", type=int, default=50)
    parser.add_argument("--interval", type=float, default=0.2, help="seconds between two claims")
    parser.add_argument("--database-url", default="", help="a PostgreSQL database to create, use and drop")
    arguments = parser.parse_args()
    redis_url = os.environ.get("REDIS_URL", "")
    if not redis_url:
        sys.exit("set REDIS_URL: the bench process and daphne share events only through Redis")
    if not 1 <= arguments.clients <= 1000 or not 1 <= arguments.events <= 1000:
        sys.exit("--clients and --events must be between 1 and 1000")

    work = Path(tempfile.mkdtemp(prefix="worklist-events-bench-"))
    database_url = arguments.database_url or f"sqlite:///{work / 'bench.sqlite3'}"
    arguments.database_label = "PostgreSQL" if arguments.database_url else "SQLite"
    environment = {
        "DEBUG": "false",  # Django's debug cursor would record every query
        "VAR_DIR": str(work / "var"),
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CHANNEL_PREFIX": f"bench-events-{os.getpid()}",
        "LOG_LEVEL": "WARNING",
    }
    if arguments.database_url:
        recreate_postgres_database(arguments.database_url)
    server = None
    try:
        configure_django(environment)
        session_keys, claimer, studies = create_readers_and_studies(
            clients=arguments.clients, studies=arguments.events + 1
        )
        port = free_port()
        with open(work / "daphne.log", "wb") as log:
            server = subprocess.Popen(
                [PYTHON, "-m", "daphne", "-v", "0", "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"],
                cwd=PROJECT,
                env={**os.environ, **environment},
                stdout=log,
                stderr=log,
            )
        wait_for_port(port, server)
        measure(arguments, session_keys, claimer, studies, port, server.pid)
    except BaseException:
        log_path = work / "daphne.log"
        if log_path.exists():
            print(log_path.read_text(errors="replace")[-3000:], file=sys.stderr)
        raise
    finally:
        if server is not None:
            stop(server)
        from asgiref.sync import async_to_sync
        from channels.layers import get_channel_layer
        from django.db import connections

        async_to_sync(get_channel_layer().flush)()  # this run's prefix only
        connections.close_all()
        if arguments.database_url:
            drop_postgres_database(arguments.database_url)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
