"""Who may read a site's studies (the people a department head can hand a study to), and how a
reader's name is shown."""

from django.db.models import Q, QuerySet

from accounts.models import Role, Site, User

READER_ROLES = (Role.RADIOLOGIST, Role.DEPARTMENT_HEAD)


def readers_of(site: Site) -> QuerySet[User]:
    return (
        User.objects.filter(is_active=True, role__in=READER_ROLES)
        .filter(Q(all_sites=True) | Q(sites=site))
        .distinct()
        .order_by("last_name", "first_name", "username")
    )


def display_name(user: User | None) -> str:
    if user is None:
        return ""
    return user.get_full_name() or user.get_username()
