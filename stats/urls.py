from django.urls import path

from stats import plotly_asset, views

app_name = "stats"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("studies/", views.drill_down, name="studies"),
    path("export/<slug:table>.<str:file_format>", views.export, name="export"),
    path("plotly.min.js", plotly_asset.plotly_js, name="plotly_js"),
    path("plotly.css", plotly_asset.plotly_css, name="plotly_css"),
]
