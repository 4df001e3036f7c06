"""The sites and AE titles administration page, mounted at /manage/sites/ in the worklist namespace."""

from django.urls import path

from worklist import admin_site_views

urlpatterns = [
    path("", admin_site_views.sites, name="manage_sites"),
    path("new/", admin_site_views.add_site, name="manage_add_site"),
    path("remote-aes/new/", admin_site_views.add_remote_ae, name="manage_add_remote_ae"),
    path("remote-aes/<int:remote_ae_id>/toggle/", admin_site_views.toggle_remote_ae, name="manage_toggle_remote_ae"),
]
