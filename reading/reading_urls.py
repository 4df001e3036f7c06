"""The reading endpoints under /reading/studies/<uid>/ (namespace "reading")."""

from django.urls import path

from reading import reading_views

urlpatterns = [
    path("studies/<str:study_uid>/decisions", reading_views.decisions, name="decisions"),
    path("studies/<str:study_uid>/findings/<int:finding_id>/decision", reading_views.decide, name="decide"),
    path("studies/<str:study_uid>/findings/<int:finding_id>/undo", reading_views.undo, name="undo"),
    path("studies/<str:study_uid>/reader-findings", reading_views.add_finding, name="add_reader_finding"),
    path(
        "studies/<str:study_uid>/reader-findings/<int:reader_finding_id>/remove",
        reading_views.remove_finding,
        name="remove_reader_finding",
    ),
    path("studies/<str:study_uid>/report", reading_views.report, name="report"),
    path("studies/<str:study_uid>/report/sign", reading_views.sign, name="sign_report"),
    path("studies/<str:study_uid>/report/addenda", reading_views.addenda, name="add_addendum"),
    path("studies/<str:study_uid>/report/print", reading_views.print_report, name="print_report"),
]
