urlpatterns: list = []  # pixels, manifest and frames for the viewer
