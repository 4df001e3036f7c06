"""A changed WORKLIST_PRIORITY_ORDER reaches the studies already waiting through one command."""

import io

import pytest
from django.core.management import call_command

from tests.worklist.studies import make_study
from worklist.models import Study, StudyStatus
from worklist.priority import priority_of

pytestmark = pytest.mark.django_db


def test_a_new_order_is_applied_to_waiting_studies_and_read_ones_are_left(sites, settings):
    settings.WORKLIST_PRIORITY_ORDER = ["ai_urgent", "stat"]
    urgent = make_study(sites["SUWON"], ai_urgent=True, priority=priority_of(ai_urgent=True, is_stat=False))
    stat = make_study(sites["SUWON"], is_stat=True, priority=priority_of(ai_urgent=False, is_stat=True))
    routine = make_study(sites["SUWON"])
    read_stat = make_study(sites["SUWON"], is_stat=True, priority=1, status=StudyStatus.READ)
    assert [urgent.priority, stat.priority, routine.priority] == [0, 1, 2]

    settings.WORKLIST_PRIORITY_ORDER = ["stat", "ai_urgent"]
    out = io.StringIO()
    call_command("recompute_priorities", stdout=out)

    priorities = dict(Study.objects.values_list("pk", "priority"))
    assert [priorities[urgent.pk], priorities[stat.pk], priorities[routine.pk]] == [1, 0, 2]
    assert priorities[read_stat.pk] == 1  # untouched: already read
    assert out.getvalue().strip() == "2 waiting study(ies) changed priority"

    out = io.StringIO()
    call_command("recompute_priorities", stdout=out)
    assert out.getvalue().startswith("0 ")


def test_stat_can_be_left_out_of_the_order(sites, settings):
    stat = make_study(sites["ICHEON"], is_stat=True, priority=1)
    settings.WORKLIST_PRIORITY_ORDER = ["ai_urgent"]
    call_command("recompute_priorities", stdout=io.StringIO())
    stat.refresh_from_db()
    assert stat.priority == 2
