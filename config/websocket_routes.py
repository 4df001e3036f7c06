# Each app adds its consumers here; the worklist's live updates are the first.
from django.urls import path

from worklist.consumers import WorklistConsumer

websocket_urlpatterns = [
    path("ws/worklist/", WorklistConsumer.as_asgi(), name="worklist-live"),
]
