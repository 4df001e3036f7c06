from django.apps import AppConfig


class AiOverlaysConfig(AppConfig):
    name = "ai_overlays"

    def ready(self) -> None:
        # The archive may not import the AI app (DESIGN.md), so it announces stored instances and
        # the importer of DICOM SEG / Parametric Map / SR listens.
        from ai_overlays.dicom_result_tasks import on_instance_stored
        from worklist.signals import instance_stored

        instance_stored.connect(on_instance_stored, dispatch_uid="ai_overlays.dicom_results")
