"""The agreement dashboard through HTTP: who may see which figures, filters that live in the URL,
exports equal to the tables on the page, and every number a link to exactly the studies behind it."""

import csv
import io
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from openpyxl import load_workbook

from reading.models import RejectionReason, Verdict
from tests.ai_overlays.factories import make_model
from tests.conftest import make_user
from tests.stats.builders import add_miss, decide, make_result, make_study, sign


@pytest.fixture
def world(sites):
    """Suwon: two readers and 14 lung studies. Kim accepts the findings of the first 8 studies
    (scores 70-77) and rejects those of the next 3 (scores 20-40); Lee accepts 2 and adds a miss
    to each. Every study is signed."""
    suwon = sites["SUWON"]
    kim = make_user("kim.suwon", sites=[suwon])
    lee = make_user("lee.suwon", sites=[suwon])
    head = make_user("head", role="department_head", all_sites=True)
    lung = make_model("Acme", "LungNet", "1.0", clinical_area="lung", operating_threshold=50)
    studies = {"kim_accepted": [], "kim_rejected": [], "lee": []}
    for number in range(8):
        study = make_study(suwon)
        _, findings = make_result(study, lung, case_score=80, findings=[("nodule", 70 + number)])
        decide(findings[0], kim, Verdict.ACCEPTED)
        sign(study, kim)
        studies["kim_accepted"].append(study)
    for number in range(3):
        study = make_study(suwon)
        _, findings = make_result(study, lung, case_score=30, findings=[("nodule", 20 + number * 10)])
        decide(findings[0], kim, Verdict.REJECTED, RejectionReason.ARTEFACT)
        sign(study, kim)
        studies["kim_rejected"].append(study)
    for _number in range(2):
        study = make_study(suwon)
        _, findings = make_result(study, lung, case_score=90, findings=[("mass", 95)])
        decide(findings[0], lee, Verdict.ACCEPTED)
        add_miss(study, lee)
        sign(study, lee)
        studies["lee"].append(study)
    return {"kim": kim, "lee": lee, "head": head, "lung": lung, "studies": studies, "suwon": suwon}


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def section(response, slug):
    return next(item for item in response.context["sections"] if item["slug"] == slug)


def summary_counts(response) -> dict[str, int]:
    rows = section(response, "summary")["table"].rows
    return {row[0].text: row[1].value for row in rows}


def test_a_department_head_sees_every_readers_verdicts(world):
    response = logged_in(world["head"]).get("/stats/")
    assert response.status_code == 200
    counts = summary_counts(response)
    assert counts["Accepted"] == 10 and counts["Rejected"] == 3 and counts["Decided"] == 13
    assert counts["Missed by the AI (added by the reader)"] == 2


def test_a_radiologist_sees_only_their_own_figures_even_when_asking_for_a_colleagues(world):
    client = logged_in(world["kim"])
    response = client.get(f"/stats/?reader={world['lee'].pk}")
    assert response.status_code == 200
    counts = summary_counts(response)
    assert counts["Accepted"] == 8 and counts["Rejected"] == 3
    assert response.context["filter"].reader_id == world["kim"].pk
    assert b'name="reader" disabled' in response.content


def test_an_admin_sees_the_dashboard(world, admin_user):
    assert logged_in(admin_user).get("/stats/").status_code == 200


def test_an_ai_engine_account_is_refused(world):
    engine = make_user("engine", role="ai_engine")
    client = logged_in(engine)
    assert client.get("/stats/").status_code == 403
    assert client.get("/stats/export/summary.csv").status_code == 403
    assert client.get("/stats/studies/?metric=verdict").status_code == 403


def test_an_anonymous_visitor_is_sent_to_the_login_page(world):
    response = Client().get("/stats/")
    assert response.status_code == 302 and "login" in response["Location"]


def test_the_statistics_link_is_in_the_top_bar_for_heads_and_not_for_engines(world):
    assert b'href="/stats/"' in logged_in(world["head"]).get("/").content
    steward = make_user("steward", role="data_steward")
    assert b'href="/stats/"' not in logged_in(steward).get("/accounts/login/", follow=True).content


def test_filters_round_trip_through_the_url_into_the_form_the_links_and_the_exports(world):
    query = (
        f"model={world['lung'].pk}&version=1.0&area=lung&site={world['suwon'].pk}&reader={world['kim'].pk}"
        "&type=nodule&from=2020-01-01&to=2099-12-31&by=month"
    )
    response = logged_in(world["head"]).get(f"/stats/?{query}")
    assert response.context["query"] == query
    page = response.content.decode()
    for selected in (
        f'<option value="{world["lung"].pk}" selected>',
        "<option selected>1.0</option>",
        '<option value="lung" selected>',
        f'<option value="{world["suwon"].pk}" selected>',
        f'<option value="{world["kim"].pk}" selected>',
        "<option selected>nodule</option>",
        'value="2020-01-01"',
        'value="2099-12-31"',
        '<option value="month" selected>',
    ):
        assert selected in page
    assert f'href="/stats/export/reasons.csv?{query.replace("&", "&amp;")}"' in page
    drill = section(response, "summary")["table"].rows[0][1].link
    assert parse_qs(urlsplit(drill).query)["by"] == ["month"]
    assert summary_counts(response)["Accepted"] == 8


def test_the_csv_export_holds_the_cells_of_the_table_on_the_page(world):
    client = logged_in(world["head"])
    for slug in ("summary", "reasons", "agreement", "turnaround", "scores", "acceptance"):
        table = section(client.get("/stats/"), slug)["table"]
        response = client.get(f"/stats/export/{slug}.csv")
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
        assert rows[0] == [str(column) for column in table.columns]
        assert rows[1:] == [[cell.text for cell in row] for row in table.rows]
        assert len(rows) > 1


def test_the_xlsx_export_holds_the_numbers_of_the_table_as_numbers(world):
    client = logged_in(world["head"])
    table = section(client.get("/stats/"), "agreement")["table"]
    response = client.get("/stats/export/agreement.xlsx")
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == [str(column) for column in table.columns]
    expected = [
        [cell.value if isinstance(cell.value, int | float) else cell.text for cell in row] for row in table.rows
    ]
    assert [list(row) for row in rows[1:]] == expected
    # The 2x2 counts are numbers a spreadsheet can add up.
    assert rows[1][2:6] == (10, 0, 0, 3)


def test_every_count_drills_down_to_exactly_the_studies_behind_it(world):
    client = logged_in(world["head"])
    rows = section(client.get("/stats/"), "summary")["table"].rows
    accepted = drill_ids(client, rows[0][1].link)
    rejected = drill_ids(client, rows[2][1].link)
    misses = drill_ids(client, rows[4][1].link)
    studies = world["studies"]
    assert accepted == {study.pk for study in studies["kim_accepted"] + studies["lee"]}
    assert rejected == {study.pk for study in studies["kim_rejected"]}
    assert misses == {study.pk for study in studies["lee"]}
    reasons = section(client.get("/stats/"), "reasons")["table"].rows
    artefact = next(row for row in reasons if row[0].text == str(RejectionReason.ARTEFACT.label))
    assert drill_ids(client, artefact[1].link) == rejected


def test_the_drill_down_links_each_study_to_the_viewer(world):
    client = logged_in(world["head"])
    link = section(client.get("/stats/"), "summary")["table"].rows[2][1].link
    page = client.get(link).content.decode()
    for study in world["studies"]["kim_rejected"]:
        assert f'href="/reading/studies/{study.study_instance_uid}/"' in page


def test_a_radiologists_drill_down_lists_only_their_own_studies(world):
    client = logged_in(world["lee"])
    link = section(client.get("/stats/"), "summary")["table"].rows[0][1].link
    assert drill_ids(client, link) == {study.pk for study in world["studies"]["lee"]}
    forged = link.replace(f"reader={world['lee'].pk}", f"reader={world['kim'].pk}")
    assert drill_ids(client, forged) == {study.pk for study in world["studies"]["lee"]}


def test_too_few_cases_is_shown_instead_of_a_figure(world):
    response = logged_in(world["lee"]).get("/stats/")
    agreement = section(response, "agreement")["table"].rows[0]
    sensitivity, kappa = agreement[6], agreement[10]
    assert sensitivity.value is None and sensitivity.text == "too few cases"
    assert kappa.value is None and "Too few cases" in kappa.note
    assert b"too few cases" in response.content


def test_the_dashboard_is_translated_into_korean(world):
    client = logged_in(world["head"])
    client.cookies["django_language"] = "ko"
    page = client.get("/stats/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert 'lang="ko"' in page


def test_a_live_reread_returns_only_the_figures_part(world):
    response = logged_in(world["head"]).get("/stats/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="stats-body")
    page = response.content.decode()
    assert page.lstrip().startswith('<div id="stats-body"') and "<form" not in page


def test_plotly_is_served_by_us_with_a_long_cache(world):
    client = logged_in(world["head"])
    response = client.get("/stats/plotly.min.js?v=1")
    assert response.status_code == 200 and "immutable" in response["Cache-Control"]
    assert b"plotly" in b"".join(response.streaming_content)[:2000].lower()
    assert client.get("/stats/plotly.min.js", HTTP_IF_NONE_MATCH=response["ETag"]).status_code == 304
    page = client.get("/stats/").content.decode()
    assert "/stats/plotly.min.js?v=" in page and "cdn" not in page.lower()


def drill_ids(client, link) -> set[int]:
    response = client.get(link)
    assert response.status_code == 200
    return {study.pk for study in response.context["page"].studies}


def test_a_drift_warning_is_shown_on_top_when_agreement_falls_below_the_floor(world, settings):
    settings.STATS_AGREEMENT_FLOOR = 1.01
    page = logged_in(world["head"]).get("/stats/").content.decode()
    warning = page.index('class="drift-warning"')
    assert "Acme LungNet 1.0" in page[warning : warning + 300]
    assert warning < page.index('class="cards"')


def test_the_dashboard_reads_the_rollups_with_as_many_queries_whatever_the_number_of_studies(world):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = logged_in(world["head"])
    client.get("/stats/")
    with CaptureQueriesContext(connection) as before:
        client.get("/stats/")
    for number in range(5):
        study = make_study(world["suwon"])
        _, findings = make_result(study, world["lung"], case_score=60, findings=[("nodule", 60 + number)])
        decide(findings[0], world["lee"], Verdict.REJECTED, RejectionReason.BENIGN)
        sign(study, world["lee"])
    with CaptureQueriesContext(connection) as after:
        client.get("/stats/")
    assert len(after) == len(before)
    print(f"dashboard: {len(before)} queries")
