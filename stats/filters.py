"""What a statistics view shows, as a dataclass that round-trips through the URL query string so a
view can be bookmarked and shared: ?model=3&model=4&version=2.1&area=lung&site=1&reader=7
&type=nodule&from=2026-01-01&to=2026-03-31&by=month"""

from dataclasses import dataclass, field, replace
from datetime import date
from urllib.parse import urlencode

from django.http import QueryDict

from accounts.models import Role, User
from ai_overlays.models import AIModel

GRANULARITIES = ("week", "month")


@dataclass(frozen=True)
class StatsFilter:
    model_ids: tuple[int, ...] = ()
    version: str = ""
    clinical_area: str = ""
    site_id: int | None = None
    reader_id: int | None = None
    finding_type: str = ""
    date_from: date | None = None
    date_to: date | None = None
    granularity: str = "week"
    # Not in the URL: fields a caller fixed and a user may not widen (a radiologist's own figures).
    locked: frozenset[str] = field(default=frozenset(), compare=False)
    # Read once per view and shared by the copies replace() makes of this filter (a view narrows it
    # per model and per figure): not part of what the filter selects.
    _read_once: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def registered_models(self) -> list[AIModel]:
        """Every AI model: most figures need them (scopes, names of the rows), the registry is small."""
        if "models" not in self._read_once:
            self._read_once["models"] = list(AIModel.objects.all())
        return self._read_once["models"]

    @classmethod
    def from_query(cls, query: QueryDict | dict) -> "StatsFilter":
        """Parse leniently: a malformed value is dropped, never an error page."""
        if not isinstance(query, QueryDict):
            query = _query_dict(query)
        granularity = query.get("by", "week")
        return cls(
            model_ids=tuple(sorted({value for value in map(_int, query.getlist("model")) if value is not None})),
            version=query.get("version", "").strip()[:40],
            clinical_area=query.get("area", "").strip()[:16],
            site_id=_int(query.get("site")),
            reader_id=_int(query.get("reader")),
            finding_type=query.get("type", "").strip()[:40],
            date_from=_date(query.get("from")),
            date_to=_date(query.get("to")),
            granularity=granularity if granularity in GRANULARITIES else "week",
        )

    def to_query(self, **changes) -> str:
        """The query string (without "?") of this filter, or of a copy with `changes`."""
        current = replace(self, **changes) if changes else self
        pairs: list[tuple[str, str]] = [("model", str(model_id)) for model_id in current.model_ids]
        for key, value in (
            ("version", current.version),
            ("area", current.clinical_area),
            ("site", current.site_id),
            ("reader", current.reader_id),
            ("type", current.finding_type),
            ("from", current.date_from.isoformat() if current.date_from else ""),
            ("to", current.date_to.isoformat() if current.date_to else ""),
        ):
            if value not in ("", None):
                pairs.append((key, str(value)))
        if current.granularity != "week":
            pairs.append(("by", current.granularity))
        return urlencode(pairs)

    def for_user(self, user: User) -> "StatsFilter":
        """A radiologist sees only their own figures; department heads and admins see everyone's."""
        if user.role == Role.RADIOLOGIST:
            return replace(self, reader_id=user.pk, locked=self.locked | {"reader_id"})
        return self


def _query_dict(values: dict) -> QueryDict:
    query = QueryDict(mutable=True)
    for key, value in values.items():
        if isinstance(value, list | tuple):
            query.setlist(key, [str(item) for item in value])
        else:
            query[key] = str(value)
    return query


def _int(value: str | None) -> int | None:
    try:
        number = int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None
    return number if number is not None and number > 0 else None


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None
