"""Admin for the AI registry (models, engines) and read-only views of jobs and results: results
come only through ai_overlays.intake, jobs only through dispatch."""

from django.contrib import admin
from django.db.models import Count
from django.utils.translation import gettext_lazy as _

from ai_overlays.models import AIEngine, AIJob, AIModel, AIResult, Finding


@admin.register(AIModel)
class AIModelAdmin(admin.ModelAdmin):
    list_display = ["vendor", "product", "version", "clinical_area", "modalities", "operating_threshold", "is_active"]
    list_filter = ["is_active", "clinical_area", "vendor", "is_reference"]
    search_fields = ["vendor", "product", "version"]


@admin.register(AIEngine)
class AIEngineAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "user", "endpoint_url", "is_active"]
    list_filter = ["kind", "is_active"]
    search_fields = ["name"]
    filter_horizontal = ["ai_models", "sites"]
    raw_id_fields = ["user"]


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(AIJob)
class AIJobAdmin(ReadOnlyAdmin):
    # The study's UID, never the patient: the admin list is no place for PHI.
    list_display = ["engine", "study_uid", "status", "attempts", "reason", "next_attempt_at", "updated_at"]
    list_filter = ["status", "engine"]
    list_select_related = ["engine", "study"]
    search_fields = ["study__study_instance_uid"]

    @admin.display(description=_("Study Instance UID"), ordering="study__study_instance_uid")
    def study_uid(self, job: AIJob) -> str:
        return job.study.study_instance_uid


class FindingInline(admin.TabularInline):
    model = Finding
    fields = ["finding_type", "label", "score", "geometry_kind", "sop_instance_uid", "frame"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(AIResult)
class AIResultAdmin(ReadOnlyAdmin):
    list_display = [
        "result_id",
        "ai_model",
        "engine",
        "source",
        "case_score",
        "triage_flag",
        "finding_count",
        "heatmap_count",
        "received_at",
    ]
    list_filter = ["source", "triage_flag", "ai_model", "engine"]
    list_select_related = ["ai_model", "engine"]
    search_fields = ["result_id", "study__study_instance_uid"]
    date_hierarchy = "received_at"
    exclude = ["study"]  # a choice field would list every study with its patient
    readonly_fields = ["study_uid"]
    inlines = [FindingInline]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(finding_total=Count("findings", distinct=True), heatmap_total=Count("heatmaps", distinct=True))
        )

    @admin.display(description=_("findings"), ordering="finding_total")
    def finding_count(self, result: AIResult) -> int:
        return result.finding_total

    @admin.display(description=_("heatmaps"), ordering="heatmap_total")
    def heatmap_count(self, result: AIResult) -> int:
        return result.heatmap_total

    @admin.display(description=_("Study Instance UID"))
    def study_uid(self, result: AIResult) -> str:
        return result.study.study_instance_uid
