"""What the top bar offers a user, from the same allow table the views enforce, and where a user
lands after signing in."""

from django.http import HttpRequest

from accounts.permissions import ALLOW, can


def allowed_actions(request: HttpRequest) -> dict:
    """Template context: `may.<action>` for every action of the allow table."""
    user = getattr(request, "user", None)
    return {"may": {action: can(user, action) for action in ALLOW}}
