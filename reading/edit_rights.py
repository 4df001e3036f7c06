"""Who may change a study's reading (verdicts, added findings, the report): the radiologist holding
the claim, until the report is signed. Everyone else who may see the study sees it read-only."""

from django.utils.translation import gettext as _

from accounts.models import User
from reading.models import Report, ReportStatus
from worklist.models import Study, StudyStatus
from worklist.readers import display_name


class ReadingRefused(Exception):
    """A refused change; `code` is machine-readable, `http_status` what the endpoint answers."""

    def __init__(self, code: str, message: str, *, http_status: int = 409, **detail):
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status
        self.detail = detail


def read_only_reason(user: User, study: Study) -> str:
    """Why this user may not change the reading now, or "" when they may."""
    if study.status == StudyStatus.READ or _report_signed(study):
        return _("The report is signed; decisions are locked.")
    if study.claimed_by_id is None:
        return _("Claim this study to read it.")
    if study.claimed_by_id != user.pk:
        return _("%(name)s is reading this study.") % {"name": display_name(study.claimed_by)}
    return ""


def check_may_edit(user: User, study: Study) -> Study:
    """The study locked for this transaction if the user may change its reading, else ReadingRefused.
    The row lock makes a decision and a signature on the same study wait for each other."""
    study = Study.objects.select_for_update(of=("self",)).select_related("claimed_by").get(pk=study.pk)
    reason = read_only_reason(user, study)
    if not reason:
        return study
    if study.status == StudyStatus.READ or _report_signed(study):
        raise ReadingRefused("signed", reason)
    raise ReadingRefused("not_your_claim", reason, http_status=403)


def _report_signed(study: Study) -> bool:
    return Report.objects.filter(study=study, status=ReportStatus.SIGNED).exists()
