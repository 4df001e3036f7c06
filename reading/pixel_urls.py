"""The viewer's pixel API, mounted at /reading/api/ (see reading.pixel_views)."""

from django.urls import path

from reading import pixel_views

urlpatterns = [
    path("studies/<str:study_uid>/manifest", pixel_views.manifest, name="manifest"),
    path("series/<str:series_uid>/frames", pixel_views.series_frames_view, name="series_frames"),
    path("series/<str:series_uid>/thumbnail", pixel_views.thumbnail, name="thumbnail"),
    path("instances/<str:sop_uid>/frames/<int:number>", pixel_views.frame_view, name="frame"),
]
