# Each app adds its consumers here; the worklist's live updates are the first.
from django.urls import path

from ai_overlays.viewer_live import websocket_urlpatterns as viewer_ai_routes
from stats.consumers import websocket_urlpatterns as stats_routes
from worklist.consumers import WorklistConsumer

websocket_urlpatterns = [
    path("ws/worklist/", WorklistConsumer.as_asgi(), name="worklist-live"),
]
websocket_urlpatterns += viewer_ai_routes
websocket_urlpatterns += stats_routes
