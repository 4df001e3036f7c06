"""WADO-RS routes (reading.wado), included by worklist.dicomweb_urls under /dicomweb/."""

from django.urls import path

from reading import wado

INSTANCE = "studies/<str:study_uid>/series/<str:series_uid>/instances/<str:sop_uid>"

urlpatterns = [
    path("studies/<str:study_uid>/metadata", wado.study_metadata, name="study-metadata"),
    path("studies/<str:study_uid>/series/<str:series_uid>/metadata", wado.series_metadata, name="series-metadata"),
    path(f"{INSTANCE}/metadata", wado.instance_metadata, name="instance-metadata"),
    path(f"{INSTANCE}/rendered", wado.rendered, name="rendered"),
    path(f"{INSTANCE}/frames/<int:number>/rendered", wado.rendered, name="frame-rendered"),
    path(f"{INSTANCE}/frames/<str:frame_list>", wado.frames, name="frames"),
    path(f"{INSTANCE}/bulk/<str:tag>", wado.bulk_data, name="bulk"),
]
