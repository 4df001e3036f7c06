"""Fill a PostgreSQL database with a realistic worklist: 1,000,000 studies of 300,000 patients
across the three sites, generated inside the server (INSERT ... SELECT generate_series), so the
fill takes minutes on 2 cores. Imported by worklist_query_bench.py; runs on its own too:

    .venv/bin/python bench/fill_worklist.py [--database-url postgres://postgres@127.0.0.1:5432/readingws_bench_1m]
                                            [--studies 1000000] [--patients 300000] [--refill]

A database that already holds the requested number of studies is left alone (--refill empties
the imaging tables and fills again). The database must be migrated first (manage.py migrate).

The shape of the data, and why:
- Sites: Anseong (the hub) has half the patients, Suwon 30 %, Icheon 20 %. Studies pick a patient
  with a skew towards low patient numbers, so some patients have many studies.
- Names: Korean family names with their real frequencies (Kim about a fifth), written in Latin
  letters, in Hangul, or both PN groups; a few foreign names. patient_name_search is the upper-cased
  PN, as ingest stores it, so "KIM" is a prefix shared by ~20 % of the studies.
- received_at increases with the row id over 3 years (one study every ~95 s); study_date is the
  arrival day except for 5 % priors imported later (up to 5 years older).
- Status: almost everything is read. Unread studies are the recent ones (probability decaying
  over the last ~12,000 arrivals) plus 0.8 % stragglers scattered over the 3 years, ~2 % in all;
  the stragglers are what an "oldest first" view shows first, as a real worklist would.
  About 150 recent studies are in reading, claimed by 8 readers; a read study keeps its claim
  (claimed_by = read_by), as worklist.workflow.mark_read leaves it.
- Modalities CR/DX/CT/MR/MG with body parts giving the clinical areas; AI urgent flags on ~1 %
  (stroke CT 7 %, lung 0.8 %), STAT orders on 3 % (30 % of head CTs); priority as worklist.priority
  computes it with the default order (urgent 0, STAT 1, routine 2).
"""

import argparse
import os
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

PROJECT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/readingws_bench_1m"
CHUNK = 200_000  # rows per INSERT: progress to watch, and bounded memory for the materialised CTE

# (latin, hangul, weight in % of the population, roughly the 2015 census)
FAMILY_NAMES = [
    ("KIM", "김", 21), ("LEE", "이", 15), ("PARK", "박", 8), ("CHOI", "최", 5), ("JUNG", "정", 4),
    ("KANG", "강", 2), ("CHO", "조", 2), ("YOON", "윤", 2), ("JANG", "장", 2), ("LIM", "임", 2),
    ("HAN", "한", 1), ("OH", "오", 1), ("SEO", "서", 1), ("SHIN", "신", 1), ("KWON", "권", 1),
    ("HWANG", "황", 1), ("AHN", "안", 1), ("SONG", "송", 1), ("JEON", "전", 1), ("HONG", "홍", 1),
    ("YOO", "유", 1), ("KO", "고", 1), ("MOON", "문", 1), ("YANG", "양", 1), ("SON", "손", 1),
    ("BAE", "배", 1), ("BAEK", "백", 1), ("HEO", "허", 1), ("NAM", "남", 1), ("NOH", "노", 1),
]  # fmt: skip
GIVEN_SYLLABLES = [
    ("MIN", "민"), ("JUN", "준"), ("SEO", "서"), ("YEON", "연"), ("JI", "지"), ("HOON", "훈"), ("YU", "유"),
    ("NA", "나"), ("HYUN", "현"), ("WOO", "우"), ("SO", "소"), ("YOUNG", "영"), ("SU", "수"), ("HO", "호"),
    ("EUN", "은"), ("JAE", "재"), ("DONG", "동"), ("HEE", "희"), ("SUNG", "성"), ("KYUNG", "경"),
    ("HA", "하"), ("JIN", "진"), ("YE", "예"), ("WON", "원"), ("SANG", "상"), ("CHUL", "철"), ("MI", "미"),
    ("GYU", "규"), ("TAE", "태"), ("BIN", "빈"),
]  # fmt: skip
FOREIGN_NAMES = ["SMITH^JOHN", "NGUYEN^VAN AN", "IVANOV^SERGEI", "GARCIA^MARIA", "WANG^WEI", "TRAN^THI HOA",
                 "BROWN^EMMA", "SATO^HIROSHI", "KHAN^AHMED", "MULLER^ANNA"]  # fmt: skip
READERS = [f"bench.reader{number}" for number in range(1, 8)]
HUB_USER, SITE_USER = "bench.hub", "bench.suwon"  # the hub user also reads and claims

PATIENTS_SQL = """
WITH lists AS (
    SELECT %(family_latin)s::text[] AS fl, %(family_hangul)s::text[] AS fh,
           %(given_latin)s::text[] AS gl, %(given_hangul)s::text[] AS gh, %(foreign)s::text[] AS fo
), r AS (
    SELECT n, random() AS r_site, random() AS r_form, random() AS r_birth, random() AS r_sex,
           1 + floor(random() * %(n_family)s)::int AS f, 1 + floor(random() * %(n_given)s)::int AS g1,
           1 + floor(random() * %(n_given)s)::int AS g2, 1 + floor(random() * %(n_foreign)s)::int AS fo_i
    FROM generate_series(%(lo)s, %(hi)s) AS n
)
INSERT INTO worklist_patient (site_id, patient_id, name, birth_date, sex)
SELECT CASE WHEN r_site < 0.5 THEN %(anseong)s WHEN r_site < 0.8 THEN %(suwon)s ELSE %(icheon)s END,
       (10000000 + n)::text,
       CASE WHEN r_form < 0.03 THEN fo[fo_i]
            WHEN r_form < 0.58 THEN fl[f] || '^' || gl[g1] || gl[g2]
            WHEN r_form < 0.90 THEN fh[f] || '^' || gh[g1] || gh[g2]
            ELSE fl[f] || '^' || gl[g1] || gl[g2] || '==' || fh[f] || '^' || gh[g1] || gh[g2] END,
       date '1935-01-01' + floor(r_birth * 365 * 85)::int,
       CASE WHEN r_sex < 0.5 THEN 'M' ELSE 'F' END
FROM r CROSS JOIN lists
"""

# kinds: one row per (modality, body part) with its clinical area, descriptions, AI model, series, images.
STUDIES_SQL = """
WITH kinds (modality, body_part, area, descriptions, ai_model, ai_vendor, series, images) AS (VALUES
  ('CR', 'CHEST', 'lung', ARRAY['Chest PA', 'Chest PA/LAT', '흉부 PA'], 'Lunit INSIGHT CXR', 'Lunit', 1, 2),
  ('CR', 'KNEE', 'other', ARRAY['Knee AP/LAT', '무릎 AP/LAT'], '', '', 1, 2),
  ('CR', 'LSPINE', 'other', ARRAY['L-spine AP/LAT'], '', '', 1, 2),
  ('DX', 'CHEST', 'lung', ARRAY['Chest PA', '흉부 PA', 'Chest AP portable'], 'Lunit INSIGHT CXR', 'Lunit', 1, 2),
  ('DX', 'KNEE', 'other', ARRAY['Knee standing AP'], '', '', 1, 2),
  ('DX', 'LSPINE', 'other', ARRAY['L-spine flexion/extension'], '', '', 1, 4),
  ('CT', 'CHEST', 'lung', ARRAY['CT Chest low-dose screening', 'Chest CT with contrast', '흉부 CT'],
         'VUNO Med-LungCT AI', 'VUNO', 3, 900),
  ('CT', 'HEAD', 'stroke', ARRAY['Brain CT non-contrast', 'CT Head stroke protocol', '뇌 CT'],
         'JLK-ICH', 'JLK', 2, 300),
  ('CT', 'ABDOMEN', 'other', ARRAY['CT Abdomen-Pelvis with contrast', '복부 CT'], '', '', 4, 1200),
  ('MR', 'BRAIN', 'dementia', ARRAY['MRI Brain dementia protocol', 'MR Brain T1 MPRAGE', '뇌 MRI'],
         'VUNO Med-DeepBrain', 'VUNO', 8, 1500),
  ('MR', 'LSPINE', 'other', ARRAY['MR L-spine', '요추 MRI'], '', '', 6, 400),
  ('MG', 'BREAST', 'breast', ARRAY['Screening mammography bilateral', '유방촬영'], 'Lunit INSIGHT MMG', 'Lunit', 1, 4)
), s AS (
    SELECT n, %(last)s - n AS age,
           %(first_patient)s + floor(power(random(), 1.3) * %(n_patients)s)::bigint AS pid,
           random() AS r_mod, random() AS r_body, random() AS r_desc, random() AS r_unread, random() AS r_claim,
           random() AS r_sub, random() AS r_ai, random() AS r_stat, random() AS r_score, random() AS r_reader,
           random() AS r_prior, random() AS r_jit, random() AS r_tat
    FROM generate_series(%(lo)s, %(hi)s) AS n
), m AS (
    SELECT s.*,
           CASE WHEN r_mod < 0.25 THEN 'CR' WHEN r_mod < 0.45 THEN 'DX' WHEN r_mod < 0.75 THEN 'CT'
                WHEN r_mod < 0.87 THEN 'MR' ELSE 'MG' END AS modality,
           %(start)s::timestamptz + make_interval(secs => (n + 0.9 * r_jit) * %(step)s) AS received,
           r_unread < greatest(0.95 * exp(-age / 12000.0), 0.008) AS unread
    FROM s
), b AS (
    SELECT m.*,
           CASE WHEN modality IN ('CR', 'DX') THEN
                    CASE WHEN r_body < 0.8 THEN 'CHEST' WHEN r_body < 0.9 THEN 'KNEE' ELSE 'LSPINE' END
                WHEN modality = 'CT' THEN
                    CASE WHEN r_body < 0.35 THEN 'CHEST' WHEN r_body < 0.65 THEN 'HEAD' ELSE 'ABDOMEN' END
                WHEN modality = 'MR' THEN CASE WHEN r_body < 0.55 THEN 'BRAIN' ELSE 'LSPINE' END
                ELSE 'BREAST' END AS body_part,
           NOT unread AND r_claim < 0.2 * exp(-age / 3000.0) AS in_reading
    FROM m
), a AS (
    SELECT b.*, k.area, k.descriptions, k.ai_model, k.ai_vendor, k.series, k.images,
           CASE WHEN unread AND age < 50 THEN ''
                WHEN k.area = 'other' THEN 'no_ai'
                WHEN unread AND age < 300 AND r_sub < 0.5 THEN 'pending'
                WHEN r_sub < 0.03 THEN 'failed' ELSE 'ready' END AS ai_state
    FROM b JOIN kinds k ON k.modality = b.modality AND k.body_part = b.body_part
), u AS (
    SELECT a.*,
           ai_state = 'ready' AND ((area = 'stroke' AND r_ai < 0.07) OR (area = 'lung' AND r_ai < 0.008)) AS urgent,
           r_stat < CASE WHEN area = 'stroke' THEN 0.3 ELSE 0.03 END AS stat,
           CASE WHEN r_prior < 0.05 THEN (received - make_interval(days => floor(r_prior * 20 * 365 * 5)::int))::date
                ELSE received::date END AS sdate,
           (%(readers)s::bigint[])[1 + floor(r_reader * %(n_readers)s)::int] AS reader
    FROM a
), v AS (
    SELECT u.*, CASE WHEN ai_state IN ('ready', 'failed', 'pending') THEN
                     CASE WHEN urgent THEN 80 + floor(r_score * 21)::int ELSE floor(r_score * r_score * 80)::int END
                END AS score
    FROM u
)
INSERT INTO worklist_study (
    study_instance_uid, patient_id, site_id, accession_number, study_id, study_date, study_time, description,
    referring_physician, institution_name, patient_age, modalities, modality, body_part, patient_name_search,
    clinical_area, is_stat, status, ai_status, ai_urgent, ai_score, ai_summary, priority, claimed_by_id,
    claimed_at, last_activity_at, read_by_id, read_at, version, received_at, last_received_at, series_count,
    instance_count)
SELECT '1.2.826.0.1.3680043.10.543.' || n, p.id, p.site_id,
       CASE p.site_id WHEN %(anseong)s THEN 'AS' WHEN %(suwon)s THEN 'SW' ELSE 'IC' END
           || to_char(received, 'YYYYMMDD') || lpad((n %% 100000)::text, 5, '0'),
       (n %% 100000)::text, sdate, received::time,
       descriptions[1 + floor(r_desc * array_length(descriptions, 1))::int],
       CASE WHEN r_desc < 0.3 THEN '' ELSE 'DR^REFERRING' END, site.name,
       lpad(greatest(extract(year FROM age(sdate, p.birth_date)), 0)::int::text, 3, '0') || 'Y',
       v.modality, v.modality, body_part, upper(p.name), area, stat,
       CASE WHEN unread THEN CASE ai_state WHEN '' THEN 'arrived' WHEN 'no_ai' THEN 'no_ai'
                                           WHEN 'pending' THEN 'ai_pending' WHEN 'failed' THEN 'ai_failed'
                                           ELSE 'ai_ready' END
            WHEN in_reading THEN 'in_reading' ELSE 'read' END,
       ai_state, urgent, score,
       CASE WHEN ai_state IN ('ready', 'failed', 'pending') THEN jsonb_build_array(jsonb_build_object(
           'model', ai_model, 'vendor', ai_vendor, 'version', '1.4.2', 'score', score, 'urgent', urgent,
           'state', ai_state)) ELSE '[]'::jsonb END,
       CASE WHEN urgent THEN 0 WHEN stat THEN 1 ELSE 2 END,
       CASE WHEN NOT unread THEN reader END,
       CASE WHEN NOT unread THEN received + make_interval(mins => 5 + floor(r_tat * 60)::int) END,
       CASE WHEN NOT unread THEN received + make_interval(mins => 5 + floor(r_tat * 60)::int) END,
       CASE WHEN NOT unread AND NOT in_reading THEN reader END,
       CASE WHEN NOT unread AND NOT in_reading
            THEN received + make_interval(mins => 10 + floor(r_tat * r_tat * 2880)::int) END,
       CASE WHEN unread THEN 1 ELSE 3 END, received, received + interval '30 seconds',
       CASE WHEN series <= 2 THEN series ELSE series + floor(r_tat * 3)::int END,
       images / 2 + floor(r_tat * images / 2)::int
FROM v
JOIN worklist_patient p ON p.id = v.pid
JOIN accounts_site site ON site.id = p.site_id
"""


def setup_django(database_url: str) -> None:
    """Point the project's settings at the benchmark database (PostgreSQL only) and start Django."""
    if urlsplit(database_url).scheme not in ("postgres", "postgresql"):
        raise SystemExit("the worklist benchmark needs PostgreSQL (--database-url postgres://...)")
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DEBUG", "false")  # as served: no query log kept in memory
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(PROJECT))
    import django

    django.setup()


def ensure_bench_users() -> dict[str, int]:
    """The hub radiologist (every site), a Suwon-only radiologist, and the readers who claim studies."""
    from accounts.models import Role, Site, User
    from worklist.demo_setup import ensure_sites_and_peers

    sites = ensure_sites_and_peers()
    ids = {}
    for username in [HUB_USER, SITE_USER, *READERS]:
        user, created = User.objects.get_or_create(
            username=username,
            defaults={"role": Role.RADIOLOGIST, "all_sites": username != SITE_USER, "last_name": username},
        )
        if created:
            user.set_unusable_password()
            user.save()
        if username == SITE_USER:
            user.sites.set([sites["SUWON"]])
        ids[username] = user.pk
    ids.update({f"site:{code}": site.pk for code, site in sites.items()})
    assert Site.objects.count() >= 3
    return ids


def study_count() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM worklist_study")
        return cursor.fetchone()[0]


def fill(*, studies: int, patients: int, refill: bool) -> float | None:
    """Fill unless the database already holds `studies` studies; the seconds taken, None if skipped."""
    from django.db import connection, transaction

    ids = ensure_bench_users()
    present = study_count()
    if present >= studies and not refill:
        print(f"{present:,} studies already present; skipping the fill (--refill to force)")
        return None
    if present and not refill:
        raise SystemExit(f"the database holds {present:,} studies, fewer than {studies:,}; use --refill")
    started = time.monotonic()
    sites = {"anseong": ids["site:ANSEONG"], "suwon": ids["site:SUWON"], "icheon": ids["site:ICHEON"]}
    # The readers claim and sign; the hub user is one of them so that its "mine" view has rows.
    readers = [ids[HUB_USER]] + [ids[name] for name in READERS]
    family = [(latin, hangul) for latin, hangul, weight in FAMILY_NAMES for _ in range(weight)]
    # One transaction: a fill that fails leaves the database (and its indexes) as they were.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.42)")  # the same data on every fill
        cursor.execute("SET synchronous_commit = off")  # a benchmark fill; nothing to lose
        cursor.execute("SET maintenance_work_mem = '256MB'")
        cursor.execute(
            "TRUNCATE worklist_instance, worklist_series, worklist_study, worklist_patient RESTART IDENTITY CASCADE"
        )
        # Building the ~30 secondary indexes once at the end is several times faster than
        # maintaining them row by row; the unique ones stay (they are constraints).
        cursor.execute(
            "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index"
            " WHERE indrelid = 'worklist_study'::regclass AND NOT indisunique"
        )
        secondary = cursor.fetchall()
        for name, _ in secondary:
            cursor.execute(f"DROP INDEX {name}")  # a name PostgreSQL itself returned, already quoted
        lists = {
            "family_latin": [latin for latin, _ in family],
            "family_hangul": [hangul for _, hangul in family],
            "given_latin": [latin for latin, _ in GIVEN_SYLLABLES],
            "given_hangul": [hangul for _, hangul in GIVEN_SYLLABLES],
            "foreign": FOREIGN_NAMES,
            "n_family": len(family),
            "n_given": len(GIVEN_SYLLABLES),
            "n_foreign": len(FOREIGN_NAMES),
        }
        for lo in range(1, patients + 1, CHUNK):
            cursor.execute(PATIENTS_SQL, {**lists, **sites, "lo": lo, "hi": min(lo + CHUNK - 1, patients)})
        cursor.execute("ANALYZE worklist_patient")
        cursor.execute("SELECT min(id), count(*) FROM worklist_patient")
        first_patient, n_patients = cursor.fetchone()
        cursor.execute("SELECT now() - interval '3 years'")
        (start,) = cursor.fetchone()
        for lo in range(1, studies + 1, CHUNK):
            hi = min(lo + CHUNK - 1, studies)
            params = {
                **sites,
                "lo": lo,
                "hi": hi,
                "last": studies,
                "first_patient": first_patient,
                "n_patients": n_patients,
                "start": start,
                "step": 3 * 365.25 * 86400 / studies,
                "readers": readers,
                "n_readers": len(readers),
            }
            cursor.execute(STUDIES_SQL, params)
            print(f"  {hi:,} studies, {time.monotonic() - started:.0f} s", flush=True)
        # The foreign keys are deferred; their pending checks must run before CREATE INDEX may.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for _, definition in secondary:
            cursor.execute(definition)
        print(f"  {len(secondary)} indexes rebuilt, {time.monotonic() - started:.0f} s", flush=True)
    # Outside a transaction: VACUUM sets the visibility map (index-only scans), ANALYZE the statistics,
    # as autovacuum would have done on a database that grew over three years.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) worklist_patient")
        cursor.execute("VACUUM (ANALYZE) worklist_study")
    seconds = time.monotonic() - started
    print(f"filled {patients:,} patients and {studies:,} studies in {seconds:.0f} s")
    return seconds


def describe() -> None:
    """The distributions actually generated, so the figures can be read against them."""
    from django.db import connection

    queries = {
        "by site": "SELECT s.code, count(*) FROM worklist_study t JOIN accounts_site s ON s.id = t.site_id GROUP BY 1",
        "by status": "SELECT status, count(*) FROM worklist_study GROUP BY 1 ORDER BY 2 DESC",
        "by modality": "SELECT modality, count(*) FROM worklist_study GROUP BY 1 ORDER BY 2 DESC",
        "by area": "SELECT clinical_area, count(*) FROM worklist_study GROUP BY 1 ORDER BY 2 DESC",
        "by priority": "SELECT priority, count(*) FROM worklist_study GROUP BY 1 ORDER BY 1",
        "AI urgent": "SELECT ai_urgent, count(*) FROM worklist_study GROUP BY 1",
        "unread by priority": "SELECT priority, count(*) FROM worklist_study WHERE status NOT IN ('read', 'in_reading')"
        " GROUP BY 1 ORDER BY 1",
        "claimed by": "SELECT u.username, count(*) FROM worklist_study t JOIN accounts_user u ON u.id = t.claimed_by_id"
        " GROUP BY 1 ORDER BY 1",
        "name forms": "SELECT CASE WHEN patient_name_search ~ '^[A-Z]' THEN 'latin' ELSE 'hangul' END, count(*)"
        " FROM worklist_study GROUP BY 1",
        "size": "SELECT pg_size_pretty(pg_total_relation_size('worklist_study')),"
        " pg_size_pretty(pg_relation_size('worklist_study'))",
    }
    with connection.cursor() as cursor:
        for label, sql in queries.items():
            cursor.execute(sql)
            print(f"  {label}: " + ", ".join(" ".join(str(value) for value in row) for row in cursor.fetchall()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL))
    parser.add_argument("--studies", type=int, default=1_000_000)
    parser.add_argument("--patients", type=int, default=300_000)
    parser.add_argument("--refill", action="store_true", help="empty the imaging tables and fill again")
    args = parser.parse_args()
    setup_django(args.database_url)
    fill(studies=args.studies, patients=args.patients, refill=args.refill)
    describe()


if __name__ == "__main__":
    main()
