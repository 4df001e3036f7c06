from django.urls import path

from worklist import views

app_name = "worklist"
urlpatterns = [
    path("", views.home, name="home"),
    path("studies/<str:study_uid>/", views.study_detail, name="study"),
]
