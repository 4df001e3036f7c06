from django.urls import include, path

from accounts import views

app_name = "accounts"
urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("login/second-factor/", views.two_factor_verify, name="two_factor"),
    path("login/second-factor/enrol/", views.two_factor_enrol, name="two_factor_enrol"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("manage/", include("accounts.admin_urls")),
    path("activity/", views.activity, name="activity"),
]
