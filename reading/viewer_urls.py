urlpatterns: list = []  # the viewer page
