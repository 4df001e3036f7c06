from django.urls import include, path

from worklist import claim_views, import_views, views

app_name = "worklist"
urlpatterns = [
    path("", views.home, name="home"),
    path("studies/<str:study_uid>/", views.study_detail, name="study"),
    path("studies/<str:study_uid>/claim/", claim_views.claim, name="claim"),
    path("studies/<str:study_uid>/release/", claim_views.release, name="release"),
    path("studies/<str:study_uid>/reassign/", claim_views.reassign, name="reassign"),
    path("presets/", views.save_preset, name="save_preset"),
    path("presets/<int:preset_id>/delete/", views.delete_preset, name="delete_preset"),
    path("upload/", import_views.upload, name="upload"),
    path("pacs/", import_views.pacs, name="pacs"),
    path("pacs/pull/", import_views.pacs_pull, name="pacs_pull"),
    path("audit/", include("worklist.audit_views")),
    path("manage/sites/", include("worklist.admin_site_urls")),
]
