"""A radiologist's saved worklist views: a name and the normalised query string of the filters."""

from django.db import transaction
from django.http import Http404, QueryDict

from accounts.models import User
from worklist.models import SavedFilter
from worklist.worklist_query import WorklistFilters

NAME_MAX_LENGTH = 60
QUERY_MAX_LENGTH = 500


def presets_of(user: User) -> list[SavedFilter]:
    return list(user.saved_filters.all())


def access_saved_filter(user: User, saved_filter_id: int) -> SavedFilter:
    """One of the user's own presets; 404 for anyone else's."""
    saved_filter = SavedFilter.objects.filter(pk=saved_filter_id, user=user).first()
    if saved_filter is None:
        raise Http404("No such saved filter")
    return saved_filter


@transaction.atomic
def save_preset(*, user: User, name: str, query: str) -> SavedFilter | None:
    """Save (or overwrite, by name) the view; None when the name is empty or the view too long."""
    name = " ".join(name.split())[:NAME_MAX_LENGTH]
    # Parsed and written again, so a preset holds only filters the worklist understands.
    normalised = WorklistFilters.from_query(QueryDict(query)).query_string()
    if not name or len(normalised) > QUERY_MAX_LENGTH:
        return None
    saved_filter, _ = SavedFilter.objects.update_or_create(user=user, name=name, defaults={"query": normalised})
    return saved_filter
