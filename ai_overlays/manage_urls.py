"""The AI administration page, mounted at /ai/manage/ (namespace "ai_overlays")."""

from django.urls import path

from ai_overlays import manage_views

urlpatterns = [
    path("", manage_views.models, name="manage_models"),
    path("models/new/", manage_views.register_model, name="manage_register_model"),
    path("models/<int:model_id>/toggle/", manage_views.toggle_model, name="manage_toggle_model"),
    path("engines/<int:engine_id>/", manage_views.edit_engine, name="manage_edit_engine"),
    path("engines/<int:engine_id>/rotate-token/", manage_views.rotate_token, name="manage_rotate_token"),
]
