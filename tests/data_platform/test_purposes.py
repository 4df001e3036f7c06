"""An export needs an approved purpose and a reason; both are audited with the cohort definition."""

import pytest

from data_platform import purposes
from data_platform.models import AccessKind, DataAccessEvent, Export


def test_an_export_without_an_approved_purpose_is_refused(steward, cohort_of_everything):
    pending = purposes.propose_purpose(kind="research", title="Not yet approved", description="", user=steward)
    with pytest.raises(purposes.ExportRefused) as refused:
        purposes.request_export(cohort=cohort_of_everything, purpose=pending, reason="training", user=steward)
    assert refused.value.code == "purpose_not_approved"
    assert not Export.objects.exists()
    assert DataAccessEvent.objects.filter(kind=AccessKind.REFUSED).exists()


def test_an_export_without_a_reason_is_refused(steward, cohort_of_everything, approved_purpose):
    with pytest.raises(purposes.ExportRefused):
        purposes.request_export(cohort=cohort_of_everything, purpose=approved_purpose, reason="  ", user=steward)


def test_a_steward_may_not_approve_a_purpose(steward):
    purpose = purposes.propose_purpose(kind="statistics", title="Yearly figures", description="", user=steward)
    with pytest.raises(purposes.ExportRefused):
        purposes.decide_purpose(purpose=purpose, approve=True, user=steward)


def test_the_export_page_refuses_a_pending_purpose(client, steward, cohort_of_everything):
    pending = purposes.propose_purpose(kind="research", title="Pending", description="", user=steward)
    client.force_login(steward)
    response = client.post(f"/data/cohorts/{cohort_of_everything.pk}/export/", {"purpose": pending.pk, "reason": "x"})
    assert response.status_code == 302
    assert not Export.objects.exists()


def test_a_radiologist_may_not_open_the_cohort_builder(client, suwon_radiologist):
    client.force_login(suwon_radiologist)
    assert client.get("/data/").status_code == 403
