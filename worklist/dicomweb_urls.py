"""DICOMweb services of the archive (PS3.18), without trailing slashes as clients send them."""

from django.urls import include, path, re_path

from worklist import stow

app_name = "dicomweb"
urlpatterns = [
    re_path(r"^studies/?$", stow.store_instances, name="stow"),
    re_path(r"^studies/(?P<study_uid>[^/]+)/?$", stow.store_instances, name="stow-study"),
    # WADO-RS lives with the pixel code in reading/; named by string so worklist imports nothing of it.
    path("", include("reading.wado_urls")),
]
