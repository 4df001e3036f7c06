"""The administration page of sites and the DICOM senders (calling AE titles) whose images belong
to each (admin role, "manage_sites"). It lives in worklist because RemoteAE does: accounts, below
worklist in the import order, may not know it."""

from django import forms
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts import audit
from accounts.models import AuditAction, Site
from accounts.permissions import requires
from worklist.models import RemoteAE


class SiteForm(forms.ModelForm):
    class Meta:
        model = Site
        fields = ["code", "name", "is_hub"]

    def clean_code(self) -> str:
        return self.cleaned_data["code"].upper()


class RemoteAEForm(forms.ModelForm):
    class Meta:
        model = RemoteAE
        fields = ["ae_title", "site", "description"]

    def clean_ae_title(self) -> str:
        # PS3.5 6.2: AE is 16 characters at most, no backslash or control characters, spaces insignificant.
        title = self.cleaned_data["ae_title"].strip()
        if not title or "\\" in title or any(ord(char) < 32 for char in title):
            raise forms.ValidationError(_("An AE title is 1 to 16 characters without a backslash."))
        return title


@requires("manage_sites")
def sites(request: HttpRequest) -> HttpResponse:
    return _page(request, SiteForm(prefix="site"), RemoteAEForm(prefix="ae"))


@requires("manage_sites")
@require_POST
def add_site(request: HttpRequest) -> HttpResponse:
    form = SiteForm(request.POST, prefix="site")
    if not form.is_valid():
        return _page(request, form, RemoteAEForm(prefix="ae"), status=400)
    with transaction.atomic():
        site = form.save()
        _audit(request, change="site_added", site=site.code)
    return redirect("worklist:manage_sites")


@requires("manage_sites")
@require_POST
def add_remote_ae(request: HttpRequest) -> HttpResponse:
    form = RemoteAEForm(request.POST, prefix="ae")
    if not form.is_valid():
        return _page(request, SiteForm(prefix="site"), form, status=400)
    with transaction.atomic():
        remote = form.save()
        _audit(request, change="remote_ae_added", ae_title=remote.ae_title, site=remote.site.code)
    return redirect("worklist:manage_sites")


@requires("manage_sites")
@require_POST
def toggle_remote_ae(request: HttpRequest, remote_ae_id: int) -> HttpResponse:
    remote = get_object_or_404(RemoteAE, pk=remote_ae_id)
    with transaction.atomic():
        RemoteAE.objects.filter(pk=remote.pk).update(active=not remote.active)
        _audit(
            request, change="remote_ae_enabled" if not remote.active else "remote_ae_disabled", ae_title=remote.ae_title
        )
    return redirect("worklist:manage_sites")


def _page(request: HttpRequest, site_form: SiteForm, ae_form: RemoteAEForm, status: int = 200) -> HttpResponse:
    listed = Site.objects.prefetch_related("remote_aes").order_by("code")
    context = {"sites": listed, "site_form": site_form, "ae_form": ae_form}
    return render(request, "accounts/manage/sites.html", context, status=status)


def _audit(request: HttpRequest, **detail) -> None:
    audit.record(
        action=AuditAction.ACCOUNT_CHANGED, user=request.user, source=audit.client_address(request), detail=detail
    )
