# STOW-RS and the other DICOMweb services of the archive.
urlpatterns: list = []
