from django.urls import include, path

app_name = "ai_overlays"

urlpatterns = [
    path("api/v1/", include("ai_overlays.api_urls")),
    path("viewer/", include("ai_overlays.viewer_api_urls")),
    path("manage/", include("ai_overlays.manage_urls")),
]
