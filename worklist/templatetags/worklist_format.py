"""How the worklist writes times and people. The JavaScript clock (static/js/worklist.js) formats
with the same translated strings, handed to it in data- attributes by {% since_template %}."""

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.translation import gettext_lazy

from worklist.readers import display_name

register = template.Library()

# Python %-format strings, in one place so the page and the clock share their translations (a literal
# with % in {% translate %} would become a different msgid, with %%).
SINCE_TEMPLATES = {
    "minutes": gettext_lazy("%(minutes)d min"),
    "hours": gettext_lazy("%(hours)d h %(minutes)02d min"),
    "days": gettext_lazy("%(days)d d %(hours)d h"),
}


@register.filter
def since(moment: datetime | None) -> str:
    """Time since a study arrived, compact enough for a column: "7 min", "3 h 05 min", "2 d 4 h"."""
    if moment is None:
        return ""
    minutes = max(0, int((timezone.now() - moment).total_seconds() // 60))
    if minutes < 60:
        return SINCE_TEMPLATES["minutes"] % {"minutes": minutes}
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return SINCE_TEMPLATES["hours"] % {"hours": hours, "minutes": minutes}
    days, hours = divmod(hours, 24)
    return SINCE_TEMPLATES["days"] % {"days": days, "hours": hours}


@register.simple_tag
def since_template(unit: str) -> str:
    return str(SINCE_TEMPLATES[unit])


register.filter("person", display_name)
