"""The agreement dashboard's server time on 1,000,000 studies and 3,000,000 finding decisions in
PostgreSQL. Fills `readingws_bench_stats` inside the server (INSERT ... SELECT generate_series; the
studies through bench/fill_worklist.py), rebuilds the statistics tables with `rebuild_stats`'s
set-based SQL, then times the default view and each filter (every query the dashboard runs for
it), warm, --runs times each, and prints median and p95.

    createdb -h 127.0.0.1 -U postgres readingws_bench_stats
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/readingws_bench_stats .venv/bin/python manage.py migrate
    .venv/bin/python bench/stats_bench.py [--runs 30] [--studies 1000000]

The AI side: 3 products x 2 versions (version 2 from the second half of the arrivals on), one
result per study with a case score, 2.5 findings per study, one decision each and a second
revision (a change of mind or an undo) for a fifth of them: 3,000,000 decisions; 3 % of studies
with a finding the reader added; every read study signed by its reader."""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fill_worklist  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/readingws_bench_stats"

FILL_AI = """
INSERT INTO ai_overlays_airesult (study_id, ai_model_id, result_id, body_sha256, source, case_score, triage_flag,
                                  summary, received_at)
SELECT s.id, m.id, 'r' || s.id, '', 'api', (hashtext(s.id::text || 'c') & 1023) / 10.23, s.ai_urgent, '',
       s.received_at + make_interval(secs => 30 + (hashtext(s.id::text || 't') & 511))
FROM worklist_study s
JOIN ai_overlays_aimodel m ON m.clinical_area = CASE WHEN s.clinical_area = 'other' THEN 'lung' ELSE s.clinical_area END
 AND m.version = CASE WHEN s.id > %(half)s THEN '2' ELSE '1' END;

INSERT INTO ai_overlays_finding (result_id, finding_type, label, score, geometry_kind, geometry,
                                 series_instance_uid, sop_instance_uid, frame)
SELECT r.id, (ARRAY['nodule','mass','bleed','atrophy','calcification'])[1 + (hashtext(r.id::text || n::text) & 3)], '',
       (hashtext(r.id::text || n::text || 's') & 1023) / 10.23, 'none', '{}', '', '', 1
FROM ai_overlays_airesult r, generate_series(1, 3) n
WHERE n <= 2 OR r.id %% 2 = 0;

INSERT INTO reading_findingdecision (study_id, finding_id, revision, verdict, reason, note, geometry_kind, geometry,
                                     label, decided_by_id, decided_at)
SELECT r.study_id, f.id, rev,
       CASE WHEN (hashtext(f.id::text || rev::text) & 7) < 4 THEN 'accepted'
            WHEN (hashtext(f.id::text || rev::text) & 7) = 4 THEN 'modified'
            WHEN rev = 2 AND (hashtext(f.id::text) & 3) = 0 THEN 'undecided' ELSE 'rejected' END,
       CASE WHEN (hashtext(f.id::text || rev::text) & 7) > 4 THEN
            (ARRAY['artefact','normal_structure','benign','already_known','other'])
                [1 + (hashtext(f.id::text || 'r') & 3)]
            ELSE '' END,
       '', '', '{}', '', COALESCE(s.read_by_id, %(reader)s), s.received_at + interval '1 hour'
FROM ai_overlays_finding f JOIN ai_overlays_airesult r ON r.id = f.result_id JOIN worklist_study s ON s.id = r.study_id,
     generate_series(1, 2) rev
WHERE rev = 1 OR f.id %% 5 = 0;

INSERT INTO reading_readerfinding (study_id, finding_type, label, geometry_kind, geometry, series_instance_uid,
                                   sop_instance_uid, frame, created_by_id, created_at)
SELECT s.id, 'nodule', '', 'none', '{}', '', '', 1, COALESCE(s.read_by_id, %(reader)s), s.received_at
FROM worklist_study s WHERE s.id %% 33 = 0;

UPDATE worklist_study SET claimed_at = received_at + make_interval(secs => 600 + (hashtext(id::text || 'k') & 8191))
WHERE status = 'read' AND claimed_at IS NULL;

INSERT INTO reading_report (study_id, clinical_area, structured, findings_text, impression, status, version,
                            updated_by_id, updated_at, signed_by_id, signed_at, sr_sop_instance_uid, pacs_delivery,
                            pacs_detail)
SELECT s.id, s.clinical_area, '{}', '', 'x', 'signed', 1, s.read_by_id, now(), s.read_by_id,
       COALESCE(s.read_at, s.claimed_at + make_interval(secs => 300 + (hashtext(s.id::text || 'g') & 4095))),
       '', 'sent', ''
FROM worklist_study s WHERE s.status = 'read' AND s.read_by_id IS NOT NULL;
"""


def fill_ai(reader_id: int, studies: int) -> float:
    from django.db import connection, transaction

    from ai_overlays.models import AIModel

    started = time.perf_counter()
    with transaction.atomic():
        for vendor, product, area in (
            ("Acme", "LungNet", "lung"),
            ("Mammo", "BreastAI", "breast"),
            ("Brainy", "StrokeNet", "stroke"),
            ("Brainy", "AtrophyNet", "dementia"),
        ):
            for version in ("1", "2"):
                AIModel.objects.get_or_create(
                    vendor=vendor,
                    product=product,
                    version=version,
                    defaults={"clinical_area": area, "modalities": "CT", "operating_threshold": 50},
                )
        with connection.cursor() as cursor:
            for statement in FILL_AI.split(";\n"):
                if statement.strip():
                    cursor.execute(statement, {"half": studies // 2, "reader": reader_id})
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return time.perf_counter() - started


def dashboard(stats_filter) -> None:
    """Every query the dashboard runs for one view: its sections (the acceptance series once per
    model in scope, as stats.views.acceptance_series does), the drift warnings, the filter's
    finding-type choices, and the first page of one drill-down."""
    from stats import drift, queries, views

    queries.finding_types()
    views.acceptance_series(stats_filter)
    queries.verdict_summary(stats_filter)
    queries.rejection_reasons(stats_filter)
    queries.score_distribution(stats_filter)
    queries.study_agreement(stats_filter)
    queries.turnaround(stats_filter)
    queries.verdict_series(stats_filter)
    queries.agreement_series(stats_filter)
    drift.drift_warnings(stats_filter)
    list(queries.study_page(queries.drill_down(stats_filter, metric="verdict", value="rejected"), limit=50).studies)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL))
    parser.add_argument("--studies", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    fill_worklist.setup_django(args.database_url)
    from datetime import date

    from django.db import connection

    from ai_overlays.models import AIModel
    from stats.filters import StatsFilter
    from stats.rollups import rebuild

    ids = fill_worklist.ensure_bench_users()
    seconds = fill_worklist.fill(studies=args.studies, patients=args.studies * 3 // 10, refill=False)
    print(f"studies: {fill_worklist.study_count()} (fill {seconds:.0f} s)" if seconds else "studies: already filled")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM reading_findingdecision")
        decisions = cursor.fetchone()[0]
    if not decisions:
        print(f"AI results, findings, decisions, reports: {fill_ai(ids[fill_worklist.READERS[0]], args.studies):.0f} s")
        started = time.perf_counter()
        counts = rebuild()
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        print(f"rebuild_stats: {time.perf_counter() - started:.0f} s {counts}")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM reading_findingdecision")
        print(f"decisions: {cursor.fetchone()[0]}")
    model = AIModel.objects.get(product="LungNet", version="2")
    views = {
        "default": StatsFilter(),
        "model": StatsFilter(model_ids=(model.pk,)),
        "version": StatsFilter(version="2"),
        "clinical area": StatsFilter(clinical_area="stroke"),
        "site": StatsFilter(site_id=ids["site:SUWON"]),
        "radiologist": StatsFilter(reader_id=ids[fill_worklist.READERS[1]]),
        "finding type": StatsFilter(finding_type="nodule"),
        "date range": StatsFilter(date_from=date(2025, 1, 1), date_to=date(2025, 3, 31)),
        "by month": StatsFilter(granularity="month"),
    }
    print(f"{'view':<14} {'median ms':>10} {'p95 ms':>8}")
    for name, stats_filter in views.items():
        dashboard(stats_filter)
        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            dashboard(stats_filter)
            times.append((time.perf_counter() - started) * 1000)
        times.sort()
        p95 = times[min(len(times) - 1, int(round(0.95 * len(times))) - 1)]
        print(f"{name:<14} {statistics.median(times):>10.1f} {p95:>8.1f}")


if __name__ == "__main__":
    main()
