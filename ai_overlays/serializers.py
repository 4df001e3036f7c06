"""The AI API's shapes. The request serializers document THE AI RESULT CONTRACT in the OpenAPI
schema only: the body is checked by ai_overlays.result_validation, which names the failing field
and checks it against the study. The response serializers render what the API sends back."""

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from ai_overlays.models import AIModel, AIResult, Finding, Heatmap


class ModelReferenceSerializer(serializers.Serializer):
    vendor = serializers.CharField(max_length=100)
    product = serializers.CharField(max_length=100)
    version = serializers.CharField(max_length=40)


class FindingInSerializer(serializers.Serializer):
    type = serializers.SlugField(max_length=40, help_text=_("Kind of finding, e.g. nodule, haemorrhage."))
    label = serializers.CharField(max_length=200, required=False)
    score = serializers.FloatField(min_value=0, max_value=100, required=False)
    series_instance_uid = serializers.CharField(max_length=64, required=False)
    sop_instance_uid = serializers.CharField(
        max_length=64, required=False, help_text=_("Required for point, box and polygon; left out for box3d.")
    )
    frame = serializers.IntegerField(min_value=1, default=1, help_text=_("1-based frame of the instance."))
    point = serializers.ListField(child=serializers.FloatField(), min_length=2, max_length=2, required=False)
    box = serializers.ListField(
        child=serializers.FloatField(),
        min_length=4,
        max_length=4,
        required=False,
        help_text=_("[x0, y0, x1, y1] in pixels, x0 < x1 and y0 < y1."),
    )
    polygon = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField(), min_length=2, max_length=2),
        min_length=3,
        required=False,
    )
    box3d = serializers.DictField(
        child=serializers.ListField(child=serializers.FloatField(), min_length=3, max_length=3),
        required=False,
        help_text=_('{"min": [x, y, slice], "max": [x, y, slice]}; slice is the 0-based index in the series.'),
    )


class HeatmapInSerializer(serializers.Serializer):
    series_instance_uid = serializers.CharField(max_length=64)
    sop_instance_uid = serializers.CharField(max_length=64)
    frame = serializers.IntegerField(min_value=1, default=1)
    rows = serializers.IntegerField(min_value=1)
    columns = serializers.IntegerField(min_value=1)
    encoding = serializers.ChoiceField(choices=["png", "raw"])
    data = serializers.CharField(
        help_text=_("Base64 of an 8-bit greyscale PNG, or of rows x columns bytes (0-255 = probability 0-1).")
    )


class ResultInSerializer(serializers.Serializer):
    """One AI result about one study (THE AI RESULT CONTRACT)."""

    result_id = serializers.CharField(min_length=1, max_length=128, help_text=_("The engine's own id."))
    model = ModelReferenceSerializer(help_text=_("A registered, active model the engine may post for."))
    study_instance_uid = serializers.CharField(max_length=64)
    case_score = serializers.FloatField(min_value=0, max_value=100, required=False, allow_null=True)
    triage_flag = serializers.BooleanField(default=False, help_text=_("Urgent: stroke, haemorrhage."))
    summary = serializers.CharField(required=False, allow_blank=True)
    findings = FindingInSerializer(many=True, required=False)
    heatmaps = HeatmapInSerializer(many=True, required=False)


class ResultReceiptSerializer(serializers.ModelSerializer):
    """The reply to a POST: the same for the first delivery (201) and every repeat (200)."""

    study_instance_uid = serializers.CharField(source="study.study_instance_uid")
    findings = serializers.IntegerField(source="finding_count")
    heatmaps = serializers.IntegerField(source="heatmap_count")

    class Meta:
        model = AIResult
        fields = ["id", "result_id", "study_instance_uid", "findings", "heatmaps"]


class ProblemSerializer(serializers.Serializer):
    field = serializers.CharField(help_text=_('Where the problem is, e.g. "findings[3].box".'))
    detail = serializers.CharField()


class AIModelSerializer(serializers.ModelSerializer):
    class Meta:
        model = AIModel
        fields = ["vendor", "product", "version", "clinical_area", "modalities", "operating_threshold", "is_reference"]


class FindingOutSerializer(serializers.ModelSerializer):
    type = serializers.CharField(source="finding_type")

    class Meta:
        model = Finding
        fields = [
            "type",
            "label",
            "score",
            "geometry_kind",
            "geometry",
            "series_instance_uid",
            "sop_instance_uid",
            "frame",
        ]


class HeatmapOutSerializer(serializers.ModelSerializer):
    class Meta:
        model = Heatmap
        fields = ["series_instance_uid", "sop_instance_uid", "frame", "rows", "columns"]


class ResultOutSerializer(serializers.ModelSerializer):
    """A stored result as its engine sent it, heatmaps without their pixels."""

    model = ModelReferenceSerializer(source="ai_model")
    study_instance_uid = serializers.CharField(source="study.study_instance_uid")
    findings = FindingOutSerializer(many=True)
    heatmaps = HeatmapOutSerializer(many=True)

    class Meta:
        model = AIResult
        fields = [
            "id",
            "result_id",
            "model",
            "study_instance_uid",
            "source",
            "case_score",
            "triage_flag",
            "summary",
            "received_at",
            "findings",
            "heatmaps",
        ]
