from django.urls import path

from worklist import import_views, views

app_name = "worklist"
urlpatterns = [
    path("", views.home, name="home"),
    path("studies/<str:study_uid>/", views.study_detail, name="study"),
    path("upload/", import_views.upload, name="upload"),
    path("pacs/", import_views.pacs, name="pacs"),
    path("pacs/pull/", import_views.pacs_pull, name="pacs_pull"),
]
