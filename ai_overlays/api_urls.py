from django.contrib.auth.decorators import login_not_required
from django.urls import path

from ai_overlays import api_views

# Bearer-token API: the views answer 401 themselves instead of redirecting to the login page.
urlpatterns = [
    path("results/", login_not_required(api_views.ResultCreateView.as_view()), name="api-result-create"),
    path("results/<int:pk>/", login_not_required(api_views.ResultDetailView.as_view()), name="api-result-detail"),
    path("models/", login_not_required(api_views.ModelListView.as_view()), name="api-model-list"),
]
