from django.urls import include, path

app_name = "reading"
urlpatterns = [
    path("", include("reading.viewer_urls")),
    path("", include("reading.reading_urls")),
    path("api/", include("reading.pixel_urls")),
]
