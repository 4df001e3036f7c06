"""Which study is read first. The rules live here alone: AI-flagged urgent findings (stroke,
haemorrhage) and STAT orders first, in the order WORKLIST_PRIORITY_ORDER gives, then routine."""

from django.conf import settings

ROUTINE = 2


def priority_of(*, ai_urgent: bool, is_stat: bool) -> int:
    """0 is read first. With the default order ("ai_urgent,stat"): urgent AI 0, STAT 1, routine 2."""
    flags = {"ai_urgent": ai_urgent, "stat": is_stat}
    for rank, rule in enumerate(settings.WORKLIST_PRIORITY_ORDER):
        if flags[rule]:
            return rank
    return ROUTINE
