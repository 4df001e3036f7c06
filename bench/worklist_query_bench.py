"""Worklist query server time on 1,000,000 studies in PostgreSQL: the default view, every filter,
a few sorts, the second page, a page back and a page deep in a sort, each through
worklist.worklist_query.worklist_page (query built, evaluated and the rows' joins loaded, as the
page does). Prints figures; it is not a test.

    .venv/bin/python bench/worklist_query_bench.py [--database-url postgres://...readingws_bench_1m]
                                                   [--runs 50] [--only default,site] [--explain] [--refill]

The database is filled first by bench/fill_worklist.py unless it already holds 1,000,000 studies
(it must be migrated: `DATABASE_URL=... manage.py migrate`). Each shape is warmed up, then --runs
rounds run every shape once each (so a burst of load from elsewhere hits all shapes alike); per
shape the report gives p50 / p95 / max of the wall time of worklist_page() (Python, the
driver and the database), the p95 of the time spent in the database calls alone (measured around
each cursor.execute), the database's own execution time of the page's queries on the study table
(summed) from one EXPLAIN (ANALYZE, BUFFERS) each, the rows returned, and OK / SLOW against the
target (p95 under 50 ms). The plans of every SLOW shape are printed after the table (all plans
with --explain).
"""

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fill_worklist  # noqa: E402  (a sibling script, importable once its folder is on the path)

TARGET_MS = 50.0
WARM_UP = 3
SLOW_SHAPE_SECONDS = 1.0  # a shape whose warm-up takes longer than this runs only 5 times: bounded runs


@dataclass
class Shape:
    name: str
    user: str  # username of fill_worklist's bench users
    query: str  # the page's query string
    pages: int = 1  # 2 = time the second page, reached through the first page's next cursor
    start: str = ""  # a cursor to begin at instead of the first page (a page deep in a sort)
    back: bool = False  # time the page before the last one reached, through its previous cursor


@dataclass
class Result:
    shape: Shape
    wall_ms: list[float] = field(default_factory=list)
    sql_ms: list[float] = field(default_factory=list)
    queries: int = 0
    rows: int = 0
    explain_ms: float | None = None
    plan: str = ""

    def p(self, values: list[float], quantile: float) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, round(quantile * (len(ordered) - 1)))]

    @property
    def p95(self) -> float:
        return self.p(self.wall_ms, 0.95)

    @property
    def ok(self) -> bool:
        return self.p95 < TARGET_MS


def data_facts() -> dict[str, str]:
    """Values the searches and date ranges need, taken from the data (the fill is random)."""
    from django.db import connection

    from worklist.worklist_query import Cursor

    with connection.cursor() as cursor:
        cursor.execute("SELECT max(study_date) FROM worklist_study")
        (last_day,) = cursor.fetchone()
        # A patient with several studies (low numbers have more), an unread study's accession, a read one's.
        cursor.execute("SELECT p.patient_id FROM worklist_patient p ORDER BY p.id LIMIT 1 OFFSET 2000")
        (patient_id,) = cursor.fetchone()
        cursor.execute("SELECT accession_number FROM worklist_study WHERE status <> 'read' ORDER BY id DESC LIMIT 1")
        (accession,) = cursor.fetchone()
        cursor.execute("SELECT accession_number FROM worklist_study WHERE id = 500000")
        (old_accession,) = cursor.fetchone()
        # The last unread study with an AI score in "AI score, highest first": the next page is the
        # first of the unscored ones, reached after walking past every score.
        cursor.execute(
            "SELECT ai_score, id FROM worklist_study WHERE status <> 'read' AND ai_score IS NOT NULL"
            " ORDER BY ai_score, id LIMIT 1"
        )
        (lowest_score, lowest_scored_id) = cursor.fetchone()
    return {
        "last_month_from": (last_day - timedelta(days=30)).isoformat(),
        "last_day": last_day.isoformat(),
        "old_from": date(last_day.year - 2, 3, 1).isoformat(),
        "old_to": date(last_day.year - 2, 3, 31).isoformat(),
        "patient_id": patient_id,
        "accession": accession,
        "old_accession": old_accession,
        "last_scored_unread": Cursor("ai_score", True, (lowest_score,), lowest_scored_id).encode(),
    }


def shapes(facts: dict[str, str]) -> list[Shape]:
    hub, suwon = fill_worklist.HUB_USER, fill_worklist.SITE_USER
    f = facts
    stroke_by_score = "area=stroke&status=all&sort=ai_score&dir=desc"
    return [
        Shape("default (hub: unread, priority)", hub, ""),
        Shape("default (Suwon radiologist)", suwon, ""),
        Shape("default, page 2", hub, "", pages=2),
        Shape("site=SUWON", hub, "site=SUWON"),
        Shape("site=SUWON+ICHEON", hub, "site=SUWON&site=ICHEON"),
        Shape("site=SUWON, page 2", hub, "site=SUWON", pages=2),
        Shape("modality=MG", hub, "modality=MG"),
        Shape("modality=MR, Suwon user", suwon, "modality=MR"),
        Shape("status=in_reading", hub, "status=in_reading"),
        Shape("status=ai_failed", hub, "status=ai_failed"),
        Shape("status=read", hub, "status=read"),
        Shape("status=all", hub, "status=all"),
        Shape("area=stroke", hub, "area=stroke"),
        Shape("area=dementia, Suwon user", suwon, "area=dementia"),
        Shape("date: last 30 days", hub, f"from={f['last_month_from']}&to={f['last_day']}"),
        Shape("date: a month 2 years ago", hub, f"from={f['old_from']}&to={f['old_to']}"),
        Shape("date: 2 years ago, status=all", hub, f"from={f['old_from']}&to={f['old_to']}&status=all"),
        Shape("AI flagged", hub, "flagged=1"),
        Shape("AI flagged, status=all", hub, "flagged=1&status=all"),
        Shape("mine", hub, "mine=1"),
        Shape("search name 'KIM' (16% of studies)", hub, "q=KIM"),
        Shape("search name 'KIM MINJUN'", hub, "q=KIM+MINJUN"),
        Shape("search name '박 지' (Hangul)", hub, "q=%EB%B0%95+%EC%A7%80"),
        Shape("search name 'KIM', status=all", hub, "q=KIM&status=all"),
        Shape("search name 'LEE^KYUNG', status=all", hub, "q=LEE%5EKYUNG&status=all"),
        Shape("search name 'LEE^KYUNG', Suwon user", suwon, "q=LEE%5EKYUNG"),
        Shape("search name 'LEE^KYUNG', status=read", hub, "q=LEE%5EKYUNG&status=read"),
        Shape("search name 'HAN' (1%)", hub, "q=HAN"),
        Shape("search name 'CHOI^S', sort arrival", hub, "q=CHOI%5ES&sort=arrival&dir=desc"),
        Shape("search patient ID", hub, f"q={f['patient_id']}"),
        Shape("search patient ID, status=all", hub, f"q={f['patient_id']}&status=all"),
        Shape("search accession", hub, f"q={f['accession']}"),
        Shape("search accession, status=all", hub, f"q={f['old_accession']}&status=all"),
        Shape("sort arrival newest", hub, "sort=arrival&dir=desc"),
        Shape("sort arrival oldest", hub, "sort=arrival"),
        Shape("sort study date newest", hub, "sort=study_date&dir=desc"),
        Shape("sort study date newest, page 2", hub, "sort=study_date&dir=desc", pages=2),
        Shape("sort patient name", hub, "sort=patient_name"),
        Shape("sort patient ID", hub, "sort=patient_id"),
        Shape("sort site", hub, "sort=site"),
        Shape("sort modality", hub, "sort=modality"),
        Shape("sort description", hub, "sort=description"),
        Shape("sort status", hub, "sort=status"),
        Shape("sort AI score", hub, "sort=ai_score&dir=desc"),
        Shape("sort AI score, page 2", hub, "sort=ai_score&dir=desc", pages=2),
        Shape("sort AI score, back to page 2", hub, "sort=ai_score&dir=desc", pages=3, back=True),
        Shape("sort AI score, first unscored page", hub, "sort=ai_score&dir=desc", start=f["last_scored_unread"]),
        Shape("sort AI score lowest", hub, "sort=ai_score"),
        Shape("sort AI score lowest, page 2", hub, "sort=ai_score", pages=2),
        Shape("sort reader", hub, "sort=reader"),
        Shape("status=all, arrival newest, page 2", hub, "status=all&sort=arrival&dir=desc", pages=2),
        Shape("status=all, patient name, page 2", hub, "status=all&sort=patient_name", pages=2),
        Shape("status=all, study date newest, page 2", hub, "status=all&sort=study_date&dir=desc", pages=2),
        Shape("status=all, AI score", hub, "status=all&sort=ai_score&dir=desc"),
        Shape("status=all, AI score lowest", hub, "status=all&sort=ai_score"),
        Shape("status=all, area=stroke, AI score", hub, stroke_by_score),
        Shape("status=all, area=stroke, AI score, page 2", hub, stroke_by_score, pages=2),
        Shape("status=all, area=stroke, AI score lowest", hub, "area=stroke&status=all&sort=ai_score"),
        Shape("status=all, modality", hub, "status=all&sort=modality"),
        Shape("status=all, description", hub, "status=all&sort=description"),
        Shape("status=all, site", hub, "status=all&sort=site"),
        Shape("status=all, reader", hub, "status=all&sort=reader"),
        Shape("status=all, patient ID", hub, "status=all&sort=patient_id"),
    ]


class DatabaseTimer:
    """Times every cursor.execute (driver and server, not Python building or loading models) and
    keeps the queries on the study table so they can be explained (a search page runs two)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.count = 0
        self.study_queries: list[tuple[str, object]] = []

    def __call__(self, execute: Callable, sql: str, params, many: bool, context: dict):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - started
            self.count += 1
            if sql.lstrip().upper().startswith("SELECT") and '"worklist_study"' in sql:
                self.study_queries.append((sql, params))


def page_call(shape: Shape, user) -> Callable[[], object]:
    """A function that produces the measured page; for page 2 (or the page back from page 3) the
    cursor is taken once beforehand."""
    from django.http import QueryDict

    from worklist.worklist_query import WorklistFilters, worklist_page

    filters = WorklistFilters.from_query(QueryDict(shape.query))
    cursor = shape.start or None
    for _ in range(shape.pages - 1):
        cursor = page_parts(worklist_page(user, filters, cursor))[1]
        if cursor is None:
            break
    if shape.back:
        cursor = page_parts(worklist_page(user, filters, cursor))[2]
    return lambda: worklist_page(user, filters, cursor)


def page_parts(page) -> tuple[list, str | None, str | None]:
    """(rows, next, previous) from the page, a WorklistPage or a plain tuple."""
    if hasattr(page, "rows"):
        return page.rows, page.next_cursor, page.previous_cursor
    return tuple(page)


def explain(sql: str, params) -> tuple[float, str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        lines = [row[0] for row in cursor.fetchall()]
    execution = next(float(line.split()[2]) for line in lines if line.startswith("Execution Time"))
    return execution, "\n".join(lines)


@dataclass
class Prepared:
    result: Result
    call: Callable[[], object]
    runs: int


def prepare(shape: Shape, runs: int) -> Prepared:
    """The shape's page call, warmed up; a shape slower than SLOW_SHAPE_SECONDS gets 5 runs only."""
    from accounts.models import User

    # One user object per shape, as a request loads it (site_ids() queries every time).
    user = User.objects.get(username=shape.user)
    call = page_call(shape, user)
    started = time.perf_counter()
    for _ in range(WARM_UP):
        call()
    if (time.perf_counter() - started) / WARM_UP > SLOW_SHAPE_SECONDS:
        runs = min(runs, 5)
    return Prepared(Result(shape), call, runs)


def run_once(prepared: Prepared) -> None:
    from django.db import connection

    timer = DatabaseTimer()
    with connection.execute_wrapper(timer):
        started = time.perf_counter()
        rows = page_parts(prepared.call())[0]
        elapsed = time.perf_counter() - started
    result = prepared.result
    result.wall_ms.append(elapsed * 1000)
    result.sql_ms.append(timer.seconds * 1000)
    result.queries, result.rows = timer.count, len(rows)
    if not result.plan and timer.study_queries:
        explained = [explain(sql, params) for sql, params in timer.study_queries]
        result.explain_ms = sum(execution for execution, _ in explained)
        result.plan = "\n\n".join(plan for _, plan in explained)


def measure(shapes: list[Shape], runs: int) -> list[Result]:
    """Every shape once per round, round after round: a burst of load from other work on the
    machine then lands on all shapes alike instead of making one of them look slow."""
    prepared = [prepare(shape, runs) for shape in shapes]
    for round_number in range(runs):
        for item in prepared:
            if round_number < item.runs:
                run_once(item)
        if round_number % 10 == 9:
            print(f"  round {round_number + 1} of {runs}", flush=True)
    return [item.result for item in prepared]


def print_table(results: list[Result]) -> None:
    width = max(len(result.shape.name) for result in results)
    print(f"\n{'shape':<{width}}  {'p50':>7} {'p95':>7} {'max':>7}  {'db p95':>7} {'explain':>7}  q  rows  target")
    for result in results:
        explain_ms = f"{result.explain_ms:7.1f}" if result.explain_ms is not None else "      -"
        print(
            f"{result.shape.name:<{width}}  {statistics.median(result.wall_ms):7.1f} {result.p95:7.1f}"
            f" {max(result.wall_ms):7.1f}  {result.p(result.sql_ms, 0.95):7.1f} {explain_ms}"
            f" {result.queries:2d} {result.rows:5d}  <{TARGET_MS:.0f} {'OK' if result.ok else 'SLOW'}"
        )
    print("(milliseconds; p50/p95/max: worklist_page() wall time; db p95: inside cursor.execute;"
          " explain: Execution Time of the page's study queries; q: queries per page)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL", fill_worklist.DEFAULT_DATABASE_URL)
    )
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--only", default="", help="comma-separated words; run the shapes whose name contains one")
    parser.add_argument("--explain", action="store_true", help="print the plan of every shape, not only the slow")
    parser.add_argument("--refill", action="store_true", help="fill the database again first")
    args = parser.parse_args()

    fill_worklist.setup_django(args.database_url)
    from django.db import connection

    fill_seconds = fill_worklist.fill(studies=1_000_000, patients=300_000, refill=args.refill)
    if fill_seconds is not None:
        fill_worklist.describe()
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        print(cursor.fetchone()[0].split(" on ")[0], "on", connection.settings_dict["NAME"])

    selected = [word.strip() for word in args.only.split(",") if word.strip()]
    chosen = [shape for shape in shapes(data_facts()) if not selected or any(w in shape.name for w in selected)]
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    results = measure(chosen, max(1, args.runs))
    print_table(results)
    # The machines are shared: the load says how much of a p95 may be other people's work.
    print(f"load average (1 min) {load_before:.1f} before, {os.getloadavg()[0]:.1f} after, on {os.cpu_count()} CPUs")
    print(f"{len(results)} shapes in {time.monotonic() - started:.0f} s; "
          f"{sum(r.ok for r in results)} within {TARGET_MS:.0f} ms at p95")  # fmt: skip
    for result in results:
        if result.plan and (args.explain or not result.ok):
            print(f"\n--- {result.shape.name} ({'OK' if result.ok else 'SLOW'}): ?{result.shape.query}\n{result.plan}")


if __name__ == "__main__":
    main()
