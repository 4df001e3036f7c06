from django.urls import path

from reading import viewer_views

urlpatterns = [
    path("studies/<str:study_uid>/", viewer_views.viewer, name="viewer"),
]
