"""Which study is read first. The rules live here alone: AI-flagged urgent findings (stroke,
haemorrhage) and STAT orders first, in the order WORKLIST_PRIORITY_ORDER gives, then routine.

The priority is stored on each study (the worklist's indexes walk it), so a changed order reaches
the studies already there through `recompute_priorities` (manage.py recompute_priorities)."""

from django.conf import settings

from worklist.models import Study, StudyStatus

ROUTINE = 2


def priority_of(*, ai_urgent: bool, is_stat: bool) -> int:
    """0 is read first. With the default order ("ai_urgent,stat"): urgent AI 0, STAT 1, routine 2."""
    flags = {"ai_urgent": ai_urgent, "stat": is_stat}
    for rank, rule in enumerate(settings.WORKLIST_PRIORITY_ORDER):
        if flags[rule]:
            return rank
    return ROUTINE


def recompute_priorities() -> int:
    """Store the priority the current order gives on every study not yet read (a read study's
    place no longer matters to anyone); return how many changed. One UPDATE per combination of
    the two flags, each touching only the studies whose value differs."""
    changed = 0
    for ai_urgent in (False, True):
        for is_stat in (False, True):
            priority = priority_of(ai_urgent=ai_urgent, is_stat=is_stat)
            changed += (
                Study.objects.exclude(status=StudyStatus.READ)
                .filter(ai_urgent=ai_urgent, is_stat=is_stat)
                .exclude(priority=priority)
                .update(priority=priority)
            )
    return changed
