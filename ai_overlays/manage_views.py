"""The administration page of AI models and engines (admin role, "manage_ai"): register a model
version, switch one on or off, set an engine's models and sites, rotate an engine's API token
(the new secret shown once, the old token revoked in the same transaction)."""

from django import forms
from django.db import transaction
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from accounts import audit
from accounts.models import ApiToken, AuditAction, User
from accounts.permissions import requires
from ai_overlays.models import AIEngine, AIModel


class ModelForm(forms.ModelForm):
    class Meta:
        model = AIModel
        fields = [
            "vendor",
            "product",
            "version",
            "clinical_area",
            "modalities",
            "operating_threshold",
            "regulatory_clearance",
            "colour",
            "is_reference",
        ]
        widgets = {"colour": forms.TextInput(attrs={"type": "color"})}


class EngineScopeForm(forms.ModelForm):
    class Meta:
        model = AIEngine
        fields = ["ai_models", "sites", "endpoint_url", "is_active"]
        widgets = {"ai_models": forms.CheckboxSelectMultiple, "sites": forms.CheckboxSelectMultiple}
        labels = {"ai_models": gettext_lazy("Models it may report")}


@requires("manage_ai")
def models(request: HttpRequest) -> HttpResponse:
    open_tokens = ApiToken.objects.filter(revoked_at__isnull=True)
    engines = AIEngine.objects.select_related("user").prefetch_related(
        "ai_models", "sites", Prefetch("user__api_tokens", queryset=open_tokens, to_attr="open_tokens")
    )
    return render(request, "accounts/manage/ai.html", {"ai_models": AIModel.objects.all(), "engines": engines})


@requires("manage_ai")
@require_http_methods(["GET", "POST"])
def register_model(request: HttpRequest) -> HttpResponse:
    form = ModelForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            model = form.save()
            _audit(request, change="ai_model_registered", ai_model_id=model.pk)
        return redirect("ai_overlays:manage_models")
    return render(request, "accounts/manage/ai_model_form.html", {"form": form})


@requires("manage_ai")
@require_POST
def toggle_model(request: HttpRequest, model_id: int) -> HttpResponse:
    model = get_object_or_404(AIModel, pk=model_id)
    with transaction.atomic():
        AIModel.objects.filter(pk=model.pk).update(is_active=not model.is_active)
        _audit(
            request,
            change="ai_model_activated" if not model.is_active else "ai_model_deactivated",
            ai_model_id=model.pk,
        )
    return redirect("ai_overlays:manage_models")


@requires("manage_ai")
@require_http_methods(["GET", "POST"])
def edit_engine(request: HttpRequest, engine_id: int) -> HttpResponse:
    engine = get_object_or_404(AIEngine, pk=engine_id)
    form = EngineScopeForm(request.POST or None, instance=engine)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            form.save()
            _audit(request, change="ai_engine_scope", engine_id=engine.pk)
        return redirect("ai_overlays:manage_models")
    return render(request, "accounts/manage/ai_engine_form.html", {"form": form, "engine": engine})


@requires("manage_ai")
@require_POST
def rotate_token(request: HttpRequest, engine_id: int) -> HttpResponse:
    engine = get_object_or_404(AIEngine.objects.select_related("user"), pk=engine_id)
    secret = rotate_engine_token(engine=engine.user, by=request.user, source=audit.client_address(request))
    response = render(request, "accounts/manage/ai_token.html", {"engine": engine, "secret": secret})
    response["Cache-Control"] = "no-store"
    return response


def rotate_engine_token(*, engine: User, by: User, source: str = "") -> str:
    """Revoke every open token of the engine's account and issue one; returns its only copy."""
    with transaction.atomic():
        revoked = ApiToken.objects.filter(user=engine, revoked_at__isnull=True).update(revoked_at=timezone.now())
        token, secret = ApiToken.issue(user=engine, name=f"rotated {timezone.now():%Y-%m-%d}")
        audit.record(
            action=AuditAction.ACCOUNT_CHANGED,
            user=by,
            source=source,
            detail={"change": "token_rotated", "user_id": engine.pk, "revoked": revoked, "token": token.prefix},
        )
    return secret


def _audit(request: HttpRequest, **detail) -> None:
    audit.record(
        action=AuditAction.ACCOUNT_CHANGED, user=request.user, source=audit.client_address(request), detail=detail
    )
