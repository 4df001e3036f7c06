"""The viewer's AI endpoints, mounted at /ai/viewer/ (see ai_overlays.viewer_api)."""

from django.urls import path

from ai_overlays import viewer_api

urlpatterns = [
    path("studies/<str:study_uid>/results", viewer_api.study_results, name="viewer_results"),
    path("heatmaps/<int:heatmap_id>.png", viewer_api.heatmap_png, name="viewer_heatmap"),
]
