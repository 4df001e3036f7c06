"""The AI engines' REST API (/ai/api/v1/): post a result, list the models an engine may post for,
read one of its results back. Bearer tokens only: a session cookie never authenticates here, so
no page can be tricked into posting a result (RELIABILITY S4).

Replies to POST results/: 201 stored, 200 the same body again (identical reply), 400 invalid
{"field", "detail"}, 401 no or bad token, 403 not an engine / model or site outside its scope
(audited), 404 unknown study, 413 body over AI_MAX_RESULT_BYTES, 422 the result_id already used
with another body."""

import json
import logging

from django.conf import settings
from django.db.models import Count
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import audit, permissions
from accounts.api_auth import HashedTokenAuthentication
from accounts.models import AuditAction
from ai_overlays.intake import ResultConflict, ResultForbidden, ResultInvalid, StudyNotFound, store_result
from ai_overlays.models import AIEngine, AIResult
from ai_overlays.serializers import (
    AIModelSerializer,
    ProblemSerializer,
    ResultInSerializer,
    ResultOutSerializer,
    ResultReceiptSerializer,
)

logger = logging.getLogger(__name__)

READ_CHUNK = 1 << 20


class IsActiveEngine(BasePermission):
    """The token's user has the AI engine role and an active engine; a denial is audited."""

    def has_permission(self, request, view) -> bool:
        if not request.user.is_authenticated:
            return False  # DRF answers 401 with the Bearer challenge
        permissions.check(request, "post_ai_results")
        engine = getattr(request.user, "ai_engine", None)
        if engine is None or not engine.is_active:
            _audit_denial(request, reason="no_active_engine")
            raise PermissionDenied(_("This account has no active AI engine."))
        return True


class EngineAPIView(APIView):
    authentication_classes = [HashedTokenAuthentication]
    permission_classes = [IsActiveEngine]

    @property
    def engine(self) -> AIEngine:
        return self.request.user.ai_engine


def _audit_denial(request: Request, *, reason: str, study_uid: str = "") -> None:
    audit.record(
        action=AuditAction.ACCESS_DENIED,
        user=request.user,
        source=audit.client_address(request),
        study_uid=study_uid[:64],
        success=False,
        detail={"action": "post_ai_results", "reason": reason, "path": request.path[:200]},
    )


def _problem(field: str, detail: str, http_status: int) -> Response:
    return Response({"field": field, "detail": str(detail)}, status=http_status)


def _receipt(result: AIResult) -> dict:
    counted = (
        AIResult.objects.select_related("study")
        .annotate(finding_count=Count("findings", distinct=True), heatmap_count=Count("heatmaps", distinct=True))
        .get(pk=result.pk)
    )
    return ResultReceiptSerializer(counted).data


def _read_body(request: Request) -> bytes | None:
    """The body up to AI_MAX_RESULT_BYTES, or None when it is larger. Read from the stream, not
    request.body, so DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB) does not refuse a volume of heatmaps."""
    limit = settings.AI_MAX_RESULT_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        return None
    stream = request.stream
    if stream is None:
        return b""
    chunks, size = [], 0
    while chunk := stream.read(min(READ_CHUNK, limit + 1 - size)):
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return None
    return b"".join(chunks)


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


class ResultCreateView(EngineAPIView):
    @extend_schema(
        operation_id="ai_result_create",
        summary="Post an AI result",
        request=ResultInSerializer,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                location=OpenApiParameter.HEADER,
                required=False,
                description="If given, must equal result_id.",
            )
        ],
        responses={
            201: ResultReceiptSerializer,
            200: OpenApiResponse(ResultReceiptSerializer, description="The same result again: the same reply."),
            400: OpenApiResponse(ProblemSerializer, description="Invalid; `field` names where."),
            401: OpenApiResponse(description="No, malformed or revoked bearer token."),
            403: OpenApiResponse(description="Not an AI engine, or model or site outside the engine's scope."),
            404: OpenApiResponse(ProblemSerializer, description="No study with this Study Instance UID."),
            413: OpenApiResponse(ProblemSerializer, description="Body larger than AI_MAX_RESULT_BYTES."),
            422: OpenApiResponse(ProblemSerializer, description="This result_id was already stored with another body."),
        },
    )
    def post(self, request: Request) -> Response:
        body = _read_body(request)
        if body is None:
            return _problem("body", _("The body is too large."), status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
        try:
            payload = json.loads(body, parse_constant=_refuse_constant)
        except (ValueError, UnicodeDecodeError):
            return _problem("body", _("The body is not valid JSON."), status.HTTP_400_BAD_REQUEST)
        key = request.headers.get("Idempotency-Key")
        if key is not None and (not isinstance(payload, dict) or key != payload.get("result_id")):
            return _problem("Idempotency-Key", _("Must equal result_id."), status.HTTP_400_BAD_REQUEST)
        try:
            outcome = store_result(payload=payload, engine=self.engine, source="api")
        except StudyNotFound as error:
            return _problem(error.field, error.message, status.HTTP_404_NOT_FOUND)
        except ResultInvalid as error:
            return _problem(error.field, error.message, status.HTTP_400_BAD_REQUEST)
        except ResultForbidden as error:
            _audit_denial(request, reason=error.reason, study_uid=str(payload.get("study_instance_uid", "")))
            raise PermissionDenied(_("This engine may not post this result.")) from error
        except ResultConflict:
            return _problem(
                "result_id",
                _("This result_id was already stored with another body."),
                status.HTTP_422_UNPROCESSABLE_ENTITY,
            )
        reply_status = status.HTTP_201_CREATED if outcome.created else status.HTTP_200_OK
        return Response(_receipt(outcome.result), status=reply_status)


class ResultDetailView(EngineAPIView):
    @extend_schema(
        operation_id="ai_result_retrieve",
        summary="Read back one of this engine's results",
        responses={200: ResultOutSerializer, 404: OpenApiResponse(description="No such result of this engine.")},
    )
    def get(self, request: Request, pk: int) -> Response:
        # Another engine's result is a 404, not a 403: its existence is not this engine's business.
        result = get_object_or_404(
            AIResult.objects.select_related("ai_model", "study").prefetch_related("findings", "heatmaps"),
            pk=pk,
            engine=self.engine,
        )
        return Response(ResultOutSerializer(result).data)


class ModelListView(EngineAPIView):
    @extend_schema(
        operation_id="ai_model_list",
        summary="The models this engine may post results for",
        responses=AIModelSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        models = self.engine.ai_models.filter(is_active=True)
        return Response(AIModelSerializer(models, many=True).data)
