"""Fixtures of the data platform's tests: a steward, an approved purpose, a saved cohort."""

import pytest

from tests.conftest import make_user


@pytest.fixture
def steward(sites):
    return make_user("steward", role="data_steward")


@pytest.fixture
def admin_user(sites):
    return make_user("admin.user", role="admin", all_sites=True)


@pytest.fixture
def approved_purpose(steward, admin_user):
    from data_platform import purposes

    purpose = purposes.propose_purpose(kind="research", title="Nodule detection training", description="", user=steward)
    return purposes.decide_purpose(purpose=purpose, approve=True, user=admin_user)


@pytest.fixture
def cohort_of_everything(steward):
    from data_platform.models import Cohort

    return Cohort.objects.create(name="All", definition={}, created_by=steward)
