from django.conf import settings
from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from django.views.i18n import set_language
from drf_spectacular.views import SpectacularAPIView

urlpatterns = [
    path("", include("worklist.urls")),
    path("accounts/", include("accounts.urls")),
    path("reading/", include("reading.urls")),
    path("ai/", include("ai_overlays.urls")),
    path("stats/", include("stats.urls")),
    path("data/", include("data_platform.urls")),
    path("dicomweb/", include("worklist.dicomweb_urls")),
    path("admin/", admin.site.urls),
    path("i18n/setlang/", login_not_required(set_language), name="set_language"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
]

if settings.DEBUG:
    from django.contrib.staticfiles.urls import staticfiles_urlpatterns

    urlpatterns += staticfiles_urlpatterns()

handler400 = "accounts.error_pages.bad_request"
handler403 = "accounts.error_pages.permission_denied"
handler404 = "accounts.error_pages.page_not_found"
handler500 = "accounts.error_pages.server_error"
