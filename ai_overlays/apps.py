from django.apps import AppConfig


class AiOverlaysConfig(AppConfig):
    name = "ai_overlays"
