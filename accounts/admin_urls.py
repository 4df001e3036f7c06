"""The administration pages, mounted at /accounts/manage/ (namespace "accounts:manage")."""

from django.contrib.auth.decorators import login_not_required
from django.urls import path

from accounts import admin_views

app_name = "manage"
urlpatterns = [
    path("", admin_views.users, name="users"),
    path("users/invite/", admin_views.invite, name="invite"),
    path("users/<int:user_id>/", admin_views.edit_user, name="edit_user"),
    path("users/<int:user_id>/deactivate/", admin_views.deactivate, name="deactivate"),
    path("users/<int:user_id>/reactivate/", admin_views.reactivate, name="reactivate"),
    path("users/<int:user_id>/reset-password/", admin_views.reset_password, name="reset_password"),
    path("settings/", admin_views.runtime_settings, name="settings"),
    # The invitee has no account to sign in with yet: the token is the credential.
    path("welcome/<str:token>/", login_not_required(admin_views.accept_invitation), name="accept_invitation"),
]
