from django.urls import path

from data_platform import views

app_name = "data_platform"

urlpatterns = [
    path("", views.cohort_builder, name="cohorts"),
    path("cohorts/<int:cohort_id>/", views.cohort_detail, name="cohort"),
    path("cohorts/<int:cohort_id>/export/", views.export_create, name="export_create"),
    path("exports/", views.export_list, name="exports"),
    path("exports/<int:export_id>/resume/", views.export_resume, name="export_resume"),
    path("exports/<int:export_id>/download/", views.export_download, name="export_download"),
    path("purposes/propose/", views.purpose_propose, name="purpose_propose"),
    path("purposes/", views.purpose_approvals, name="purposes"),
    path("mpi/", views.mpi_suggestions, name="mpi"),
]
