"""The worklist page through the test client: who sees what, filters and sort in the URL, htmx
partials, the pager, saved views, the audit of each list view, and idle claims released on load."""

from datetime import UTC, date, datetime, time, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditAction, AuditEvent
from tests.conftest import make_user
from tests.worklist.studies import make_study
from worklist import worklist_query
from worklist.models import SavedFilter, Study, StudyStatus
from worklist.rows import render_study_row

HOME = "/"


def rows_of(response) -> str:
    """The HTML of the table body."""
    html = response.content.decode()
    start = html.index('id="worklist-rows"')
    return html[start : html.index("</tbody>", start)]


def test_radiologist_sees_her_sites_studies_and_never_another_sites(client, suwon_radiologist, sites):
    own = make_study(sites["SUWON"], name="KIM^SUWON")
    other = make_study(sites["ICHEON"], name="LEE^ICHEON")
    client.force_login(suwon_radiologist)
    for query in ("", "?site=ICHEON", "?status=all", "?q=LEE", "?sort=site&dir=desc"):
        body = rows_of(client.get(HOME + query))
        assert f'id="study-{other.pk}"' not in body and "LEE ICHEON" not in body
    assert f'id="study-{own.pk}"' in rows_of(client.get(HOME))


def test_hub_radiologist_sees_every_site_and_can_pick_sites(client, hub_radiologist, sites):
    suwon = make_study(sites["SUWON"], minutes=1)
    icheon = make_study(sites["ICHEON"], minutes=2)
    client.force_login(hub_radiologist)
    body = rows_of(client.get(HOME))
    assert f'id="study-{suwon.pk}"' in body and f'id="study-{icheon.pk}"' in body
    response = client.get(HOME + "?site=ICHEON")
    assert f'id="study-{suwon.pk}"' not in rows_of(response)
    assert 'value="ICHEON" checked' in response.content.decode()


def test_row_shows_priority_ai_models_patient_and_opens_the_study(client, suwon_radiologist, sites):
    summary = [{"model": "StrokeNet", "vendor": "Acme", "version": "2.1", "score": 91, "urgent": True}]
    study = make_study(
        sites["SUWON"], name="HONG^GILDONG", patient_id="PID-7", ai_summary=summary, ai_urgent=True, priority=0
    )
    client.force_login(suwon_radiologist)
    body = rows_of(client.get(HOME))
    assert "StrokeNet" in body and ">91<" in body and "badge urgent" in body
    assert "HONG GILDONG" in body and "PID-7" in body
    assert reverse("reading:viewer", args=[study.study_instance_uid]) in body
    assert '<time class="since" datetime="' in body


def test_filters_and_sort_come_from_the_url_and_the_form_shows_them(client, hub_radiologist, sites):
    mammogram = make_study(sites["SUWON"], modality="MG", clinical_area="breast")
    make_study(sites["SUWON"], modality="CT")
    client.force_login(hub_radiologist)
    response = client.get(HOME + "?modality=MG&area=breast&sort=patient_name&dir=desc&status=all")
    html = response.content.decode()
    assert [study.pk for study in response.context["page"].rows] == [mammogram.pk]
    assert "<option selected>MG</option>" in html
    assert 'value="breast" selected' in html
    assert 'aria-sort="descending"' in html


def test_bad_parameters_still_give_the_page(client, hub_radiologist, sites):
    make_study(sites["SUWON"])
    client.force_login(hub_radiologist)
    for query in ("?status=%00&sort=;drop&dir=up&from=2026-02-30", "?cursor=garbage&site=../../", "?q=" + "x" * 900):
        assert client.get(HOME + query).status_code == 200


def test_htmx_gets_the_view_or_only_the_rows(client, hub_radiologist, sites):
    study = make_study(sites["SUWON"])
    client.force_login(hub_radiologist)
    view = client.get(HOME + "?modality=CT&q=", headers={"HX-Request": "true", "HX-Target": "worklist-view"})
    assert "<html" not in view.content.decode() and 'id="worklist-filters"' in view.content.decode()
    assert view["HX-Push-Url"] == "/?modality=CT"
    rows = client.get(HOME, headers={"HX-Request": "true", "HX-Target": "worklist-rows"})
    assert rows.content.decode().strip().startswith("<tr") and f'id="study-{study.pk}"' in rows.content.decode()
    assert "<thead" not in rows.content.decode()
    full = client.get(HOME, headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<html" in full.content.decode()


def test_pages_follow_by_cursor(client, hub_radiologist, sites, monkeypatch):
    monkeypatch.setattr(worklist_query, "PAGE_SIZE", 2)
    studies = [make_study(sites["SUWON"], minutes=number) for number in range(5)]
    client.force_login(hub_radiologist)
    first = client.get(HOME)
    assert first.context["previous_url"] is None
    second = client.get(first.context["next_url"])
    assert [study.pk for study in second.context["page"].rows] == [studies[2].pk, studies[3].pk]
    back = client.get(second.context["previous_url"])
    assert [study.pk for study in back.context["page"].rows] == [studies[0].pk, studies[1].pk]
    # The rows re-read by a live update are this same page.
    assert client.get(second.context["current_url"]).context["page"].rows == second.context["page"].rows


def test_each_list_view_is_audited_without_patient_data(client, suwon_radiologist, sites):
    make_study(sites["SUWON"], name="HONG^GILDONG")
    client.force_login(suwon_radiologist)
    client.get(HOME + "?q=HONG", REMOTE_ADDR="10.1.2.3")
    event = AuditEvent.objects.get(action=AuditAction.STUDY_LIST_VIEWED)
    assert (event.user, event.source, event.detail["count"], event.detail["searched"]) == (
        suwon_radiologist,
        "10.1.2.3",
        1,
        True,
    )
    assert "HONG" not in str(event.detail)


def test_a_data_steward_lands_on_the_data_platform_and_never_sees_the_worklist(client, data_steward):
    client.force_login(data_steward)
    response = client.get(HOME + "?status=all")
    assert (response.status_code, response["Location"]) == (302, "/data/")
    assert b"worklist-rows" not in response.content


def test_an_ai_engine_account_gets_403_on_the_worklist(client, sites):
    client.force_login(make_user("svc.engine", role="ai_engine", sites=[sites["SUWON"]]))
    assert client.get(HOME).status_code == 403


def test_an_idle_claim_is_released_when_the_page_loads(client, suwon_radiologist, hub_radiologist, sites, settings):
    settings.CLAIM_IDLE_MINUTES = 30
    idle = make_study(sites["SUWON"], claimed_by=hub_radiologist, status=StudyStatus.IN_READING)
    Study.objects.filter(pk=idle.pk).update(last_activity_at=timezone.now() - timedelta(minutes=31))
    client.force_login(suwon_radiologist)
    client.get(HOME)
    idle.refresh_from_db()
    assert idle.claimed_by is None and idle.status == StudyStatus.ARRIVED


def test_release_idle_claims_command_for_cron(suwon_radiologist, sites, settings):
    settings.CLAIM_IDLE_MINUTES = 30
    idle = make_study(sites["SUWON"], claimed_by=suwon_radiologist, status=StudyStatus.IN_READING)
    Study.objects.filter(pk=idle.pk).update(last_activity_at=timezone.now() - timedelta(hours=2))
    output = StringIO()
    call_command("release_idle_claims", stdout=output)
    assert "released 1 idle claim" in output.getvalue()
    assert Study.objects.get(pk=idle.pk).claimed_by is None


def test_the_page_costs_the_same_queries_with_many_rows(
    client, hub_radiologist, suwon_radiologist, sites, django_assert_num_queries
):
    for number in range(3):
        make_study(sites["SUWON"], minutes=number, claimed_by=suwon_radiologist, status=StudyStatus.IN_READING)
    SavedFilter.objects.create(user=hub_radiologist, name="CT", query="modality=CT")
    client.force_login(hub_radiologist)
    client.get(HOME)
    # session, user, idle claims, page of studies, audit row (chain head locked, row, head moved), sites, presets
    with django_assert_num_queries(9):
        client.get(HOME + "?sort=reader")
    for number in range(20):
        make_study(sites["ICHEON"], minutes=number, claimed_by=hub_radiologist, status=StudyStatus.IN_READING)
    with django_assert_num_queries(9):
        assert len(client.get(HOME + "?sort=reader").context["page"].rows) == 23


def test_save_apply_and_delete_a_saved_view(client, suwon_radiologist, sites):
    mammogram = make_study(sites["SUWON"], modality="MG")
    make_study(sites["SUWON"], modality="CT")
    client.force_login(suwon_radiologist)
    response = client.post(
        reverse("worklist:save_preset"), {"name": "  Breast  today ", "query": "modality=MG&bogus=1&status=nope"}
    )
    assert response.status_code == 302 and response["Location"] == "/?modality=MG"
    preset = SavedFilter.objects.get(user=suwon_radiologist)
    assert (preset.name, preset.query) == ("Breast today", "modality=MG")
    page = client.get(HOME)
    assert 'href="/?modality=MG">Breast today</a>' in page.content.decode()
    applied = client.get("/?" + preset.query)
    assert [study.pk for study in applied.context["page"].rows] == [mammogram.pk]
    # Saving under the same name replaces the view.
    client.post(reverse("worklist:save_preset"), {"name": "Breast today", "query": "modality=MG&mine=1"})
    assert SavedFilter.objects.get(user=suwon_radiologist).query == "modality=MG&mine=1"
    client.post(reverse("worklist:delete_preset", args=[preset.pk]), {"query": "modality=MG"})
    assert not SavedFilter.objects.exists()


def test_a_saved_view_needs_a_name(client, suwon_radiologist):
    client.force_login(suwon_radiologist)
    response = client.post(reverse("worklist:save_preset"), {"name": "   ", "query": "modality=CT"}, follow=True)
    assert not SavedFilter.objects.exists()
    assert "Give the view a name" in response.content.decode()


def test_saved_views_are_ones_own(client, suwon_radiologist, icheon_radiologist):
    theirs = SavedFilter.objects.create(user=icheon_radiologist, name="Icheon CT", query="modality=CT")
    client.force_login(suwon_radiologist)
    assert "Icheon CT" not in client.get(HOME).content.decode()
    assert client.post(reverse("worklist:delete_preset", args=[theirs.pk])).status_code == 404
    assert SavedFilter.objects.filter(pk=theirs.pk).exists()


def test_saved_views_need_post_and_csrf(suwon_radiologist):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(suwon_radiologist)
    assert client.get(reverse("worklist:save_preset")).status_code == 405
    assert client.post(reverse("worklist:save_preset"), {"name": "x", "query": ""}).status_code == 403


@pytest.mark.parametrize("language, heading", [("ko", "검사 목록"), ("en", "Studies")])
def test_the_page_speaks_the_users_language(client, sites, language, heading):
    user = make_user("yoon.suwon", sites=[sites["SUWON"]])
    client.force_login(user)
    client.cookies["django_language"] = language
    assert f"<h1>{heading}</h1>" in client.get(HOME).content.decode()


def test_time_since_arrival_and_the_clocks_strings_for_the_script(client, hub_radiologist, sites):
    now = timezone.now()
    for minutes in (7, 185, 3 * 1440 + 65):
        study = make_study(sites["SUWON"])
        Study.objects.filter(pk=study.pk).update(received_at=now - timedelta(minutes=minutes, seconds=10))
    client.force_login(hub_radiologist)
    html = client.get(HOME + "?sort=arrival&dir=desc").content.decode()
    labels = [html.split('<time class="since"', 4)[index].split(">", 1)[1].split("<", 1)[0] for index in (1, 2, 3)]
    assert labels == ["7 min", "3 h 05 min", "3 d 1 h"]
    assert 'data-since-hours="%(hours)d h %(minutes)02d min"' in html


def test_arrival_times_are_shown_in_seoul_time(client, hub_radiologist, sites):
    """15:30 UTC is 00:30 the next day in Seoul: the row's tooltip and machine-readable time, the
    live row and the study page all say so. The DICOM study date and time are the site's own wall
    clock already and are shown as recorded."""
    study = make_study(sites["SUWON"], study_date=date(2026, 3, 2), study_time=time(15, 30))
    Study.objects.filter(pk=study.pk).update(received_at=datetime(2026, 3, 2, 15, 30, tzinfo=UTC))
    study.refresh_from_db()
    client.force_login(hub_radiologist)
    row = rows_of(client.get(HOME))
    live_row = render_study_row(study, user=hub_radiologist, out_of_band=True)
    for html in (row, live_row):
        assert 'datetime="2026-03-03T00:30:00+09:00"' in html
        assert 'title="2026-03-03 00:30"' in html
        assert '<td class="study-date">2026-03-02 15:30</td>' in html
    detail = client.get(reverse("worklist:study", args=[study.study_instance_uid])).content.decode()
    assert "<dd>2026-03-03 00:30:00</dd>" in detail
