from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.utils.decorators import method_decorator

from accounts import audit
from accounts.models import AuditAction


@method_decorator(login_not_required, name="dispatch")
class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def form_valid(self, form):
        response = super().form_valid(form)
        audit.record(action=AuditAction.LOGIN, user=form.get_user(), source=audit.client_address(self.request))
        return response

    def form_invalid(self, form):
        # The attempted name goes into detail, not the username column: it may be mistyped PHI.
        audit.record(action=AuditAction.LOGIN_FAILED, source=audit.client_address(self.request), success=False)
        return super().form_invalid(form)


class LogoutView(auth_views.LogoutView):
    def post(self, request, *args, **kwargs):
        audit.record(action=AuditAction.LOGOUT, user=request.user, source=audit.client_address(request))
        return super().post(request, *args, **kwargs)
