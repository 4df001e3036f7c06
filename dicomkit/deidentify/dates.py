"""Shifting DA and DT values by a patient's day offset (times and time zones are kept)."""

from datetime import date, timedelta
from functools import lru_cache


@lru_cache(maxsize=4096)  # a series repeats its few dates in every slice
def shift_date(value: str, days: int) -> str | None:
    """A DA value moved by `days`, or None when it is not a full YYYYMMDD date (then removed)."""
    value = value.strip()
    if len(value) != 8 or not value.isdigit():
        return None
    try:
        moved = date(int(value[:4]), int(value[4:6]), int(value[6:])) + timedelta(days=days)
    except ValueError:
        return None
    return moved.strftime("%Y%m%d")


def shift_datetime(value: str, days: int) -> str | None:
    """A DT value with its date part moved; the time of day and UTC offset are kept as written."""
    value = value.strip()
    shifted = shift_date(value[:8], days)
    if shifted is None:
        return None
    return shifted + value[8:]


def age_between(birth: str, on: str) -> str | None:
    """PS3.5 AS value (e.g. '064Y') for a birth date on a day, both DA; None when unparseable."""
    if len(birth) != 8 or len(on) != 8 or not (birth.isdigit() and on.isdigit()):
        return None
    years = int(on[:4]) - int(birth[:4]) - ((on[4:] < birth[4:]) and 1 or 0)
    if years < 0 or years > 999:
        return None
    return f"{years:03d}Y"
