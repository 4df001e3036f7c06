"""The top bar's Statistics link, shown to the roles the allow table lets see statistics."""

from django import template

from accounts.permissions import can

register = template.Library()


@register.filter
def may_view_stats(user) -> bool:
    return can(user, "view_stats")
