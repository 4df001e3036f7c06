"""Registering the reference models and the engine that runs them, idempotently."""

from __future__ import annotations

from django.db import transaction

from accounts.models import Role, Site, User
from ai_overlays.models import AIEngine, AIModel, EngineKind

from .products import CLEARANCE, ENGINE_NAME, PRODUCTS, VENDOR, VERSION

SERVICE_USERNAME = "ai-reference-engine"


@transaction.atomic
def do_register_reference_engine() -> tuple[AIEngine, list[AIModel]]:
    """Create or bring up to date the reference AIModels, the engine's service account and the
    "reference" AIEngine with every model and every site. Running it again changes nothing new."""
    models = []
    for product in PRODUCTS:
        model, _ = AIModel.objects.update_or_create(
            vendor=VENDOR,
            product=product.name,
            version=VERSION,
            defaults={
                "clinical_area": product.clinical_area,
                "modalities": " ".join(product.modalities),
                "regulatory_clearance": CLEARANCE,
                "colour": product.colour,
                "is_reference": True,
                "is_active": True,
            },
        )
        models.append(model)
    user, created = User.objects.get_or_create(username=SERVICE_USERNAME, defaults={"role": Role.AI_ENGINE})
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    engine, _ = AIEngine.objects.update_or_create(
        name=ENGINE_NAME, defaults={"user": user, "kind": EngineKind.REFERENCE, "is_active": True}
    )
    engine.ai_models.add(*models)
    engine.sites.add(*Site.objects.all())
    return engine, models
