# Each app adds its consumers here; the worklist's live updates are the first.
websocket_urlpatterns: list = []
