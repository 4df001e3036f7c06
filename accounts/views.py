from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts import audit, signin, two_factor
from accounts.models import AuditAction


@method_decorator(login_not_required, name="dispatch")
class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def form_valid(self, form):
        user = form.get_user()
        if two_factor.required_for(user):
            signin.hold(self.request, user=user, next_url=self.get_success_url())
            has_device = two_factor.confirmed_device(user) is not None
            return redirect("accounts:two_factor" if has_device else "accounts:two_factor_enrol")
        response = super().form_valid(form)
        audit.record(action=AuditAction.LOGIN, user=user, source=audit.client_address(self.request))
        return response

    def form_invalid(self, form):
        # The attempted name is not recorded: it may be mistyped PHI.
        locked_out = bool(getattr(self.request, "axes_locked_out", False))
        audit.record(
            action=AuditAction.LOGIN_FAILED,
            source=audit.client_address(self.request),
            success=False,
            detail={"locked_out": True} if locked_out else None,
        )
        return super().form_invalid(form)


class LogoutView(auth_views.LogoutView):
    def post(self, request, *args, **kwargs):
        audit.record(action=AuditAction.LOGOUT, user=request.user, source=audit.client_address(request))
        return super().post(request, *args, **kwargs)


@never_cache
@login_not_required
def two_factor_verify(request):
    held = signin.pending(request)
    if held is None or two_factor.confirmed_device(held.user) is None:
        return redirect("accounts:login")
    error = ""
    if request.method == "POST":
        device = two_factor.confirmed_device(held.user)
        if two_factor.confirm(device, request.POST.get("token", "")):
            signin.complete(request, user=held.user, backend=held.backend, device=device)
            return redirect(held.next_url)
        if signin.count_wrong_token(request, held):
            return redirect("accounts:login")
        error = _("That code was not right. Type the current code from your authenticator app.")
    return render(request, "accounts/two_factor_verify.html", {"error": error})


@never_cache
@login_not_required
def two_factor_enrol(request):
    held = signin.pending(request)
    if held is None:
        return redirect("accounts:login")
    if two_factor.confirmed_device(held.user) is not None:
        return redirect("accounts:two_factor")
    device = two_factor.enrolment_device(held.user)
    error = ""
    if request.method == "POST":
        if two_factor.confirm(device, request.POST.get("token", "")):
            detail = {"second_factor_enrolled": True}
            signin.complete(request, user=held.user, backend=held.backend, device=device, detail=detail)
            return redirect(held.next_url)
        if signin.count_wrong_token(request, held):
            return redirect("accounts:login")
        error = _("That code was not right. Scan the code again or type the key, then the current code.")
    context = {
        "qr_code": two_factor.qr_code_data_uri(device),
        "secret": two_factor.secret_for_typing(device),
        "error": error,
    }
    return render(request, "accounts/two_factor_enrol.html", context)


@login_not_required  # answers 401 itself: the page's script then leaves for the login page
@require_POST
def activity(request):
    """idle.js reports real user activity; IdleTimeoutMiddleware has already counted it."""
    return HttpResponse(status=204 if request.user.is_authenticated else 401)
