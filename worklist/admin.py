from django.contrib import admin

from worklist.models import RemoteAE


@admin.register(RemoteAE)
class RemoteAEAdmin(admin.ModelAdmin):
    list_display = ["ae_title", "site", "description", "active"]
    list_filter = ["site", "active"]
