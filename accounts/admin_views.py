"""The administration pages for users (admin role only): a filterable list, invitation and
password-reset links shown once, roles and sites, deactivation; and the runtime settings, shown
read-only with the environment variable that sets each."""

from django import forms
from django.conf import settings
from django.contrib.auth.forms import SetPasswordForm
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from accounts import audit
from accounts.deactivation import change_access, deactivate_user, reactivate_user
from accounts.invitations import InvitationInvalid, issue_link, open_invitation, redeem
from accounts.models import InvitationPurpose, Role, Site, User
from accounts.permissions import requires

PAGE_SIZE = 50


class UserFilter(forms.Form):
    q = forms.CharField(required=False, label=gettext_lazy("Search"))
    role = forms.ChoiceField(required=False, choices=[("", gettext_lazy("Every role")), *Role.choices])
    site = forms.ModelChoiceField(Site.objects.all(), required=False, empty_label=gettext_lazy("Every site"))
    active = forms.ChoiceField(
        required=False,
        choices=[
            ("", gettext_lazy("Active and inactive")),
            ("1", gettext_lazy("Active")),
            ("0", gettext_lazy("Inactive")),
        ],
    )

    def apply(self, users):
        data = self.cleaned_data
        if data["q"]:
            words = Q(username__icontains=data["q"]) | Q(first_name__icontains=data["q"])
            users = users.filter(words | Q(last_name__icontains=data["q"]))
        if data["role"]:
            users = users.filter(role=data["role"])
        if data["site"]:
            users = users.filter(Q(sites=data["site"]) | Q(all_sites=True)).distinct()
        if data["active"]:
            users = users.filter(is_active=data["active"] == "1")
        return users


class AccessForm(forms.Form):
    role = forms.ChoiceField(label=gettext_lazy("Role"), choices=Role.choices)
    sites = forms.ModelMultipleChoiceField(
        Site.objects.all(), required=False, label=gettext_lazy("Sites"), widget=forms.CheckboxSelectMultiple
    )
    all_sites = forms.BooleanField(required=False, label=gettext_lazy("Member of every site, present and future"))


class InviteForm(AccessForm):
    username = forms.CharField(label=gettext_lazy("User name"), max_length=150)
    first_name = forms.CharField(label=gettext_lazy("Given name"), max_length=150, required=False)
    last_name = forms.CharField(label=gettext_lazy("Family name"), max_length=150, required=False)
    field_order = ["username", "last_name", "first_name", "role", "sites", "all_sites"]

    def clean_username(self) -> str:
        username = User.normalize_username(self.cleaned_data["username"])
        if User.objects.filter(username__iexact=username).exists():
            raise forms.ValidationError(_("This user name is taken."))
        return username


def _managed_user(user_id: int) -> User:
    """The account an admin acts on (the caller has passed the manage_users check)."""
    return get_object_or_404(User, pk=user_id)


@requires("manage_users")
def users(request: HttpRequest) -> HttpResponse:
    form = UserFilter(request.GET or None)
    listed = User.objects.prefetch_related("sites").order_by("username")
    if form.is_valid():
        listed = form.apply(listed)
    context = {"form": form, "users": listed[:PAGE_SIZE], "more": listed.count() > PAGE_SIZE}
    if request.htmx:
        return render(request, "accounts/manage/users.html#user-rows", context)
    return render(request, "accounts/manage/users.html", context)


@requires("manage_users")
@require_http_methods(["GET", "POST"])
def invite(request: HttpRequest) -> HttpResponse:
    form = InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        user = User(username=data["username"], first_name=data["first_name"], last_name=data["last_name"])
        user.set_unusable_password()
        user.save()
        change_access(
            user=user,
            by=request.user,
            role=data["role"],
            site_ids={site.pk for site in data["sites"]},
            all_sites=data["all_sites"],
            source=audit.client_address(request),
        )
        return _link_page(request, user, InvitationPurpose.INVITE)
    return render(request, "accounts/manage/invite.html", {"form": form})


@requires("manage_users")
@require_http_methods(["GET", "POST"])
def edit_user(request: HttpRequest, user_id: int) -> HttpResponse:
    user = _managed_user(user_id)
    initial = {"role": user.role, "sites": list(user.sites.all()), "all_sites": user.all_sites}
    form = AccessForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if user == request.user and data["role"] != Role.ADMIN:
            form.add_error("role", _("You cannot take the administrator role from yourself."))
        else:
            change_access(
                user=user,
                by=request.user,
                role=data["role"],
                site_ids={site.pk for site in data["sites"]},
                all_sites=data["all_sites"],
                source=audit.client_address(request),
            )
            return redirect("accounts:manage:edit_user", user_id=user.pk)
    return render(request, "accounts/manage/user.html", {"form": form, "account": user})


@requires("manage_users")
@require_POST
def deactivate(request: HttpRequest, user_id: int) -> HttpResponse:
    user = _managed_user(user_id)
    if user == request.user:
        return HttpResponse(_("You cannot deactivate yourself."), status=409)
    deactivate_user(user=user, by=request.user, source=audit.client_address(request))
    return _account_row(request, user)


@requires("manage_users")
@require_POST
def reactivate(request: HttpRequest, user_id: int) -> HttpResponse:
    user = _managed_user(user_id)
    reactivate_user(user=user, by=request.user, source=audit.client_address(request))
    return _account_row(request, user)


@requires("manage_users")
@require_POST
def reset_password(request: HttpRequest, user_id: int) -> HttpResponse:
    user = _managed_user(user_id)
    if not user.is_active:
        raise Http404
    return _link_page(request, user, InvitationPurpose.PASSWORD_RESET)


@requires("manage_users")
def runtime_settings(request: HttpRequest) -> HttpResponse:
    # Read-only: each is a deployment choice in config/settings.py, changed with its variable.
    rows = [
        (_("Worklist priority order"), ", ".join(settings.WORKLIST_PRIORITY_ORDER), "WORKLIST_PRIORITY_ORDER"),
        (_("Claim released after idle minutes"), settings.CLAIM_IDLE_MINUTES, "CLAIM_IDLE_MINUTES"),
        (_("Session lifetime in seconds"), settings.SESSION_COOKIE_AGE, "SESSION_COOKIE_AGE"),
        (_("AI result waits for a stable study, seconds"), settings.AI_STABLE_SECONDS, "AI_STABLE_SECONDS"),
        (_("AI job attempts"), settings.AI_MAX_ATTEMPTS, "AI_MAX_ATTEMPTS"),
    ]
    return render(request, "accounts/manage/settings.html", {"rows": rows})


@require_http_methods(["GET", "POST"])
def accept_invitation(request: HttpRequest, token: str) -> HttpResponse:
    try:
        invitation = open_invitation(token)
    except InvitationInvalid:
        return render(request, "accounts/manage/welcome.html", {"invalid": True}, status=404)
    form = SetPasswordForm(invitation.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            redeem(token=token, password=form.cleaned_data["new_password1"], source=audit.client_address(request))
        except InvitationInvalid:
            return render(request, "accounts/manage/welcome.html", {"invalid": True}, status=404)
        return redirect("accounts:login")
    return render(request, "accounts/manage/welcome.html", {"form": form, "account": invitation.user})


def _link_page(request: HttpRequest, user: User, purpose: InvitationPurpose) -> HttpResponse:
    token = issue_link(user=user, created_by=request.user, purpose=purpose, source=audit.client_address(request))
    link = request.build_absolute_uri(reverse("accounts:manage:accept_invitation", args=[token]))
    response = render(request, "accounts/manage/link.html", {"account": user, "link": link, "purpose": purpose})
    response["Cache-Control"] = "no-store"  # the secret is shown once, never from a cache
    return response


def _account_row(request: HttpRequest, user: User) -> HttpResponse:
    if request.htmx:
        return render(request, "accounts/manage/users.html#user-row", {"account": user})
    return redirect("accounts:manage:users")
