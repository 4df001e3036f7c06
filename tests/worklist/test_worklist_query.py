"""The worklist query: each filter, each sort both ways, keyset pages forwards and backwards through
ties and NULLs, site isolation, search, and query strings that are wrong in every way."""

from datetime import date, time

import pytest
from django.http import QueryDict

from tests.worklist.studies import START, make_study
from worklist import worklist_query
from worklist.models import Study, StudyStatus
from worklist.worklist_query import SORTS, Cursor, SortKey, WorklistFilters, worklist_page


def filters(query: str = "") -> WorklistFilters:
    return WorklistFilters.from_query(QueryDict(query))


def ids(page) -> list[int]:
    return [study.pk for study in page.rows]


def listed(user, query: str = "") -> list[int]:
    return ids(worklist_page(user, filters(query)))


def test_default_view_is_unread_by_priority_then_oldest_first(hub_radiologist, sites):
    routine_old = make_study(sites["SUWON"], minutes=1)
    routine_new = make_study(sites["ICHEON"], minutes=2)
    urgent = make_study(sites["SUWON"], minutes=3, priority=0, ai_urgent=True)
    stat = make_study(sites["ANSEONG"], minutes=4, priority=1, is_stat=True)
    make_study(sites["SUWON"], minutes=0, status=StudyStatus.READ)
    assert listed(hub_radiologist) == [urgent.pk, stat.pk, routine_old.pk, routine_new.pk]


def test_radiologist_never_sees_another_sites_study(suwon_radiologist, sites):
    own = make_study(sites["SUWON"])
    make_study(sites["ICHEON"])
    assert listed(suwon_radiologist) == [own.pk]
    assert listed(suwon_radiologist, "site=ICHEON") == []
    assert listed(suwon_radiologist, "q=HONG") == [own.pk]
    assert listed(suwon_radiologist, "status=all&sort=site") == [own.pk]


def test_site_filter_keeps_only_the_chosen_sites(hub_radiologist, sites):
    suwon = make_study(sites["SUWON"], minutes=1)
    icheon = make_study(sites["ICHEON"], minutes=2)
    make_study(sites["ANSEONG"], minutes=3)
    assert listed(hub_radiologist, "site=SUWON") == [suwon.pk]
    assert listed(hub_radiologist, "site=SUWON&site=ICHEON") == [suwon.pk, icheon.pk]
    assert listed(hub_radiologist, "site=NOWHERE") == []


def test_status_filter_unread_all_or_one(hub_radiologist, sites):
    waiting = make_study(sites["SUWON"], minutes=1, status=StudyStatus.AI_READY)
    reading = make_study(sites["SUWON"], minutes=2, status=StudyStatus.IN_READING)
    read = make_study(sites["SUWON"], minutes=3, status=StudyStatus.READ)
    assert listed(hub_radiologist) == [waiting.pk, reading.pk]
    assert listed(hub_radiologist, "status=all") == [waiting.pk, reading.pk, read.pk]
    assert listed(hub_radiologist, "status=read") == [read.pk]
    assert listed(hub_radiologist, "status=in_reading") == [reading.pk]


def test_modality_and_clinical_area_filters(hub_radiologist, sites):
    chest = make_study(sites["SUWON"], minutes=1, modality="CT", clinical_area="lung")
    mammogram = make_study(sites["SUWON"], minutes=2, modality="MG", clinical_area="breast")
    assert listed(hub_radiologist, "modality=MG") == [mammogram.pk]
    assert listed(hub_radiologist, "modality=mg") == [mammogram.pk]
    assert listed(hub_radiologist, "area=lung") == [chest.pk]


def test_study_date_range_includes_both_ends(hub_radiologist, sites):
    make_study(sites["SUWON"], minutes=1, study_date=date(2026, 2, 28))
    first = make_study(sites["SUWON"], minutes=2, study_date=date(2026, 3, 1))
    last = make_study(sites["SUWON"], minutes=3, study_date=date(2026, 3, 2))
    make_study(sites["SUWON"], minutes=4)
    assert listed(hub_radiologist, "from=2026-03-01&to=2026-03-02") == [first.pk, last.pk]
    assert listed(hub_radiologist, "from=2026-03-02") == [last.pk]


def test_ai_flagged_and_mine(hub_radiologist, suwon_radiologist, sites):
    flagged = make_study(sites["SUWON"], minutes=1, ai_urgent=True, priority=0)
    mine = make_study(sites["SUWON"], minutes=2, claimed_by=suwon_radiologist, status=StudyStatus.IN_READING)
    make_study(sites["SUWON"], minutes=3, claimed_by=hub_radiologist, status=StudyStatus.IN_READING)
    assert listed(suwon_radiologist, "flagged=1") == [flagged.pk]
    assert listed(suwon_radiologist, "mine=1") == [mine.pk]


def test_search_by_name_prefix_patient_id_or_accession(hub_radiologist, sites):
    hong = make_study(sites["SUWON"], minutes=1, name="HONG^GILDONG", patient_id="12345")
    kim = make_study(sites["ICHEON"], minutes=2, name="KIM^MINJI", patient_id="67890", accession_number="ACC-9")
    korean = make_study(sites["ANSEONG"], minutes=3, name="홍길동")
    assert listed(hub_radiologist, "q=hong") == [hong.pk]
    assert listed(hub_radiologist, "q=Hong Gil") == [hong.pk]
    assert listed(hub_radiologist, "q=12345") == [hong.pk]
    assert listed(hub_radiologist, "q=1234") == []
    assert listed(hub_radiologist, "q=ACC-9") == [kim.pk]
    assert listed(hub_radiologist, "q=홍") == [korean.pk]
    assert listed(hub_radiologist, "q=GILDONG") == []
    assert listed(hub_radiologist, "q=%25") == []


@pytest.mark.parametrize(
    "query",
    [
        "status=bogus&sort=drop table&dir=sideways&from=2026-13-01&to=yesterday&flagged=yes&mine=true",
        "site=<script>&modality=C T&area=knee&q=" + "x" * 500,
        "modality=" + "A" * 40 + "&from=2026-3-1&site=" + "S" * 80,
    ],
)
def test_bad_parameters_are_ignored(hub_radiologist, sites, query):
    study = make_study(sites["SUWON"])
    parsed = filters(query)
    assert parsed.status == "unread" and parsed.sort == "priority" and not parsed.descending
    assert parsed.modality == "" and parsed.clinical_area == "" and parsed.date_from is None
    assert not parsed.ai_flagged and not parsed.mine
    assert len(parsed.search) <= 64
    if "q=" not in query:
        assert listed(hub_radiologist, query) == [study.pk]


@pytest.mark.parametrize(
    "cursor",
    [
        "!!!",
        "bm90IGpzb24",  # "not json"
        Cursor("arrival", False, (START,), 1).encode(),  # another sort's cursor
        Cursor("priority", False, ("two", START), 1).encode(),
        Cursor("priority", False, (2, "2026-03-02T08:00:00"), 1).encode(),  # no time zone
        Cursor("priority", False, (2, START), "1").encode(),
        "W10",  # []
    ],
)
def test_a_bad_cursor_gives_the_first_page(hub_radiologist, sites, cursor):
    study = make_study(sites["SUWON"])
    page = worklist_page(hub_radiologist, filters(), cursor)
    assert ids(page) == [study.pk]
    assert page.previous_cursor is None


def test_query_string_round_trips_and_keeps_defaults_out(sites):
    query = "site=SUWON&modality=CT&status=all&area=lung&from=2026-03-01&to=2026-03-02&flagged=1&mine=1&q=KIM"
    parsed = filters(query + "&sort=ai_score&dir=desc")
    assert filters(parsed.query_string()) == parsed
    assert filters("").query_string() == ""
    assert parsed.sorted_by("ai_score").descending is False
    assert parsed.sorted_by("patient_name").sort == "patient_name"
    assert filters().sorted_by("arrival").descending is True


def _sort_value(study: Study, key: SortKey, descending: bool):
    value = study
    for name in key.path.split("__"):
        value = getattr(value, name)
        if value is None:
            # NULL is the largest value, or, for a column whose NULLs come last both ways, the
            # smallest once the order is reversed for a descending view.
            return (-1, "") if key.nulls_last and descending else (1, "")
    return (0, value)


def _expected(studies: list[Study], sort: str, descending: bool) -> list[int]:
    keys = SORTS[sort]
    ordered = sorted(studies, key=lambda study: (*(_sort_value(study, key, descending) for key in keys), study.pk))
    return [study.pk for study in (reversed(ordered) if descending else ordered)]


@pytest.fixture
def many_studies(hub_radiologist, suwon_radiologist, sites):
    """23 studies full of ties (same priority, same arrival minute, same name) and NULLs."""
    site_list = list(sites.values())
    studies = []
    for number in range(23):
        studies.append(
            make_study(
                site_list[number % 3],
                name=["KIM^A", "LEE^B", "PARK^C"][number % 3],
                minutes=number // 4,
                priority=[2, 2, 1, 0][number % 4],
                modality=["CT", "MR", "CT", "MG", "DX"][number % 5],
                description=["CHEST", "BRAIN", ""][number % 3],
                study_date=None if number % 5 == 0 else date(2026, 3, 1 + number % 3),
                study_time=None if number % 2 else time(9, number % 4),
                status=[StudyStatus.ARRIVED, StudyStatus.AI_READY, StudyStatus.NO_AI][number % 3],
                ai_score=None if number % 3 == 0 else (number * 7) % 5 * 10,
                claimed_by=[None, hub_radiologist, suwon_radiologist][number % 3],
            )
        )
    return [Study.objects.select_related("patient", "site", "claimed_by").get(pk=study.pk) for study in studies]


def _page_through(user, view: WorklistFilters) -> list:
    """Every page from the first by next cursors, then back by previous cursors, checking that going
    back shows the pages seen going forwards and that only the first page has no previous cursor."""
    pages, cursor = [], None
    while True:
        page = worklist_page(user, view, cursor)
        pages.append(page)
        assert (page.previous_cursor is None) == (cursor is None)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    page = pages[-1]
    for seen in reversed(pages[:-1]):
        page = worklist_page(user, view, page.previous_cursor)
        assert ids(page) == ids(seen)
    assert page.previous_cursor is None
    return pages


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("sort", sorted(SORTS))
def test_every_sort_pages_forwards_and_backwards_through_ties(
    hub_radiologist, many_studies, monkeypatch, sort, descending
):
    monkeypatch.setattr(worklist_query, "PAGE_SIZE", 5)
    view = filters(f"sort={sort}&dir={'desc' if descending else 'asc'}")
    pages = _page_through(hub_radiologist, view)
    assert [pk for page in pages for pk in ids(page)] == _expected(many_studies, sort, descending)
    assert [len(page.rows) for page in pages] == [5, 5, 5, 5, 3]


def test_ai_score_lists_scored_studies_first_in_both_directions(hub_radiologist, sites):
    """Clicking "AI score" shows the most suspicious first; a study no AI model scored is neither the
    most nor the least suspicious, so it comes after every score, whichever way the column sorts."""
    unscored = [make_study(sites["SUWON"], minutes=number, priority=0) for number in range(2)]
    low, high, middle = (make_study(sites["ICHEON"], minutes=5, ai_score=score) for score in (3, 97, 40))
    view = filters().sorted_by("ai_score")
    assert view.descending
    assert listed(hub_radiologist, view.query_string()) == [high.pk, middle.pk, low.pk, unscored[1].pk, unscored[0].pk]
    ascending = view.sorted_by("ai_score").query_string()
    assert listed(hub_radiologist, ascending) == [low.pk, middle.pk, high.pk, unscored[0].pk, unscored[1].pk]


@pytest.mark.parametrize("page_size", [3, 4, 5, 7])
@pytest.mark.parametrize("descending", [False, True])
def test_ai_score_pages_run_into_the_unscored_studies_at_a_page_edge_or_inside_a_page(
    hub_radiologist, many_studies, monkeypatch, page_size, descending
):
    """15 scored studies (five scores, three of each) then 8 unscored: pages of 3 and 5 end at the
    last score, pages of 4 and 7 hold both; forwards and back the order is the scores, then the
    unscored by id, each the view's way round."""
    monkeypatch.setattr(worklist_query, "PAGE_SIZE", page_size)
    sign = -1 if descending else 1
    scored = sorted((s for s in many_studies if s.ai_score is not None), key=lambda s: (sign * s.ai_score, sign * s.pk))
    unscored = sorted((s for s in many_studies if s.ai_score is None), key=lambda s: sign * s.pk)
    assert len(scored) == 15 and len(unscored) == 8
    pages = _page_through(hub_radiologist, filters(f"sort=ai_score&dir={'desc' if descending else 'asc'}"))
    assert [pk for page in pages for pk in ids(page)] == [study.pk for study in scored + unscored]


@pytest.fixture
def searchable_studies(hub_radiologist, suwon_radiologist, sites):
    """26 studies of every status, full of ties and NULLs: 16 whose name starts with KIM, one whose
    accession is KIM and two of a patient whose ID is KIM (neither named KIM), so a search for KIM
    finds more names than a page holds and exact matches fall between them in every sort."""
    site_list = list(sites.values())
    statuses = [StudyStatus.ARRIVED, StudyStatus.READ, StudyStatus.AI_READY, StudyStatus.READ, StudyStatus.IN_READING]
    studies = []
    for number in range(26):
        extra = {}
        if number == 7:
            extra["accession_number"] = "KIM"
        if number in (9, 19):
            extra["patient_id"] = "KIM"
        studies.append(
            make_study(
                sites["SUWON"] if "patient_id" in extra else site_list[number % 3],
                name=["KIM^A", "KIMURA^B", "LEE^C", "KIM^D", "PARK^E"][number % 5],
                minutes=number // 4,
                priority=[2, 2, 1, 0][number % 4],
                modality=["CT", "MR", "CT", "MG", "DX", "CT"][number % 6],
                description=["CHEST", "BRAIN", ""][number % 3],
                study_date=None if number % 5 == 1 else date(2026, 3, 1 + number % 3),
                study_time=None if number % 2 else time(9, number % 4),
                status=statuses[number % 5],
                ai_score=None if number % 3 == 0 else (number * 7) % 5 * 10,
                claimed_by=[None, hub_radiologist, suwon_radiologist][number % 3],
                **extra,
            )
        )
    return [Study.objects.select_related("patient", "site", "claimed_by").get(pk=study.pk) for study in studies]


def _finds_kim(study: Study) -> bool:
    return study.patient_name_search.startswith("KIM") or "KIM" in (study.accession_number, study.patient.patient_id)


# Each view with what it shows, as a predicate over a study.
FILTERED_VIEWS = {
    "status=all": lambda study: True,
    "status=read": lambda study: study.status == StudyStatus.READ,
    "site=SUWON&status=all": lambda study: study.site.code == "SUWON",
    "from=2026-03-02&status=all": lambda study: study.study_date is not None and study.study_date >= date(2026, 3, 2),
    "modality=CT": lambda study: study.modality == "CT" and study.status != StudyStatus.READ,
    "q=KIM": _finds_kim,
    "q=KIM&status=read": lambda study: _finds_kim(study) and study.status == StudyStatus.READ,
    "q=KIM&site=ICHEON": lambda study: _finds_kim(study) and study.site.code == "ICHEON",
}


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("sort", sorted(SORTS))
def test_filtered_views_page_through_exactly_their_studies_in_every_sort(
    hub_radiologist, searchable_studies, monkeypatch, sort, descending
):
    """Each page is chosen among the matching studies alone before its rows are joined, and a search
    ranks a page of name matches beside the exact ones: the pages still hold every match once, in
    the sort's order, forwards and backwards."""
    monkeypatch.setattr(worklist_query, "PAGE_SIZE", 5)
    for query, shows in FILTERED_VIEWS.items():
        view = filters(f"{query}&sort={sort}&dir={'desc' if descending else 'asc'}")
        expected = _expected([study for study in searchable_studies if shows(study)], sort, descending)
        pages = _page_through(hub_radiologist, view)
        assert [pk for page in pages for pk in ids(page)] == expected, query
        assert all(len(page.rows) == 5 for page in pages[:-1]), query


def test_a_search_page_costs_the_same_queries_however_many_names_match(
    hub_radiologist, searchable_studies, monkeypatch, django_assert_num_queries
):
    monkeypatch.setattr(worklist_query, "PAGE_SIZE", 5)
    first = worklist_page(hub_radiologist, filters("q=KIM&status=all"))
    # The patients whose ID was typed, a page of name matches, then the page with its rows joined.
    with django_assert_num_queries(3):
        page = worklist_page(hub_radiologist, filters("q=KIM&status=all"), first.next_cursor)
        [(study.patient.name, study.site.name, study.claimed_by) for study in page.rows]
    assert len(page.rows) == 5


def test_going_back_near_the_start_gives_a_full_first_page(hub_radiologist, sites, monkeypatch):
    monkeypatch.setattr(worklist_query, "PAGE_SIZE", 5)
    studies = [make_study(sites["SUWON"], minutes=number) for number in range(8)]
    second = worklist_page(hub_radiologist, filters(), worklist_page(hub_radiologist, filters()).next_cursor)
    # Two studies ahead of the second page are read meanwhile: going back still shows five rows.
    Study.objects.filter(pk__in=[studies[0].pk, studies[1].pk]).update(status=StudyStatus.READ)
    back = worklist_page(hub_radiologist, filters(), second.previous_cursor)
    assert ids(back) == [study.pk for study in studies[2:7]]
    assert back.previous_cursor is None


def test_a_page_costs_the_same_queries_however_deep(
    hub_radiologist, many_studies, monkeypatch, django_assert_num_queries
):
    monkeypatch.setattr(worklist_query, "PAGE_SIZE", 5)
    first = worklist_page(hub_radiologist, filters("sort=reader"))
    with django_assert_num_queries(1):
        page = worklist_page(hub_radiologist, filters("sort=reader"), first.next_cursor)
        [(study.patient.name, study.site.name, study.claimed_by) for study in page.rows]


def test_a_search_finds_signed_studies_too_while_the_plain_list_hides_them(suwon_radiologist, sites):
    signed = make_study(sites["SUWON"], accession_number="ACC-SIGNED", status=StudyStatus.READ)
    assert listed(suwon_radiologist) == []
    assert listed(suwon_radiologist, "q=ACC-SIGNED") == [signed.pk]
