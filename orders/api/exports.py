"""Export jobs in the API (paths relative to /api), following Voucherify's exports:

    POST /v1/orders/export              schedule an orders export → the export object
    GET  /v1/exports/{id}               the export object (API jobs and dashboard exports alike)
    GET  /v1/exports/{id}/download      the CSV of a DONE job: with the API key, or with the signed token
                                        of ``result.url`` alone (valid for an hour)

HTTP only: the body's shape here; the translation of Voucherify's filters, the job and the download token in
``orders.export_jobs``; the exporter is the dashboard's (``orders.export``).
"""

from urllib.parse import urlencode

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import exceptions, serializers
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from orders import export_jobs
from orders.choices import ActorType
from orders.exceptions import NotFound, OrdersError
from orders.models import Export, ExportStatus
from orders_dashboard.api.authentication import APP_ID_HEADER, TOKEN_HEADER, api_actor
from orders_dashboard.api.schema import ErrorSerializer, error_responses
from orders_dashboard.api.views import ApiView
from orders_dashboard.models import ApiKey

from .serializers import ConstantField, TimestampField
from .views import LIST_ORDERINGS

# Who started an export, as Voucherify's ``channel`` says it: the API, the dashboard ("WEBSITE"), or the system.
CHANNELS = {ActorType.API_KEY: "API", ActorType.USER: "WEBSITE", ActorType.SYSTEM: "SYSTEM"}
# A dashboard export's sort, in Voucherify's words where it has some (the others sort by amounts).
ORDERS_OF_SORTS = {sort: order for order, (sort, _) in LIST_ORDERINGS.items()}
PARAMETER_KEYS = ("order", "fields", "filters")


class ExportNotReady(OrdersError):
    code = "export_not_ready"
    status = 409


# --- serializers ------------------------------------------------------------------------------------------


class ExportParametersSerializer(serializers.Serializer):
    order = serializers.ChoiceField(
        choices=list(LIST_ORDERINGS),
        required=False,
        help_text="The rows' order. Left out for a dashboard export sorted by an amount.",
    )
    fields = serializers.ListField(
        child=serializers.CharField(), help_text="The CSV's columns, in order (the header row)."
    )
    filters = serializers.DictField(
        required=False,
        help_text="The filters as the API request sent them. Left out when none were sent, and for dashboard "
        "exports (whose filters are the orders list's, shown on the dashboard).",
    )

    class Meta:
        ref_name = "ExportParameters"


class ExportResultSerializer(serializers.Serializer):
    url = serializers.URLField(
        help_text="The CSV's download address; its token works without the API key for an hour. GET the "
        "export again for a fresh one."
    )

    class Meta:
        ref_name = "ExportResult"


class ExportSerializer(serializers.Serializer):
    """The export object (Voucherify's): what was asked for and, once DONE, where the CSV is."""

    id = serializers.CharField(help_text="exp_…")
    object = ConstantField("export")
    created_at = TimestampField(help_text="When the export was scheduled (or, on the dashboard, started).")
    # Not an enum in the schema: its values would take the name of the order status enum.
    status = serializers.CharField(help_text="SCHEDULED, IN_PROGRESS, DONE or ERROR (in that order).")
    channel = serializers.SerializerMethodField()
    exported_object = serializers.CharField(help_text="order (or customer, for a segment's members).")
    parameters = serializers.SerializerMethodField()
    result = serializers.SerializerMethodField()
    user_id = serializers.SerializerMethodField()

    class Meta:
        ref_name = "Export"

    @extend_schema_field(
        serializers.ChoiceField(
            choices=sorted(set(CHANNELS.values())),
            help_text="Who started it: API (an API key), WEBSITE (someone on the dashboard) or SYSTEM.",
        )
    )
    def get_channel(self, export: Export) -> str:
        return CHANNELS.get(export.actor_type, "SYSTEM")

    @extend_schema_field(ExportParametersSerializer)
    def get_parameters(self, export: Export) -> dict:
        if export.parameters is not None:
            return export.parameters
        parameters = {"fields": list(export.fields)}
        if export.order in ORDERS_OF_SORTS:
            parameters["order"] = ORDERS_OF_SORTS[export.order]
        return parameters

    @extend_schema_field(
        ExportResultSerializer(
            allow_null=True,
            help_text="The CSV's address once a job is DONE; null before, on ERROR, and for a dashboard "
            "download (which streamed to the browser and kept no file).",
        )
    )
    def get_result(self, export: Export) -> dict | None:
        if export.status != ExportStatus.DONE or not export.file:
            return None
        return {"url": download_url(self.context["request"], export)}

    @extend_schema_field(
        serializers.CharField(allow_null=True, help_text="Always null: staff accounts are not part of the API.")
    )
    def get_user_id(self, export: Export) -> None:
        return None


class ExportCreateSerializer(serializers.Serializer):
    """Documentation only: the body of POST /v1/orders/export (checked by ``orders.export_jobs``)."""

    exported_object = serializers.ChoiceField(choices=["order"], required=False)
    parameters = serializers.DictField(
        required=False,
        help_text="Voucherify's shape: ``{order, fields, filters}``, all optional. Without parameters the CSV "
        "holds id, source_id and status of every order, oldest first. (The three may also come at the top "
        "level of the body, without parameters.)\n\n"
        "- ``order``: created_at, -created_at, updated_at or -updated_at.\n"
        "- ``fields``: id, source_id, created_at, updated_at, status, amount, discount_amount, "
        "items_discount_amount, total_discount_amount, total_amount, customer_id, referrer_id, metadata, "
        "metadata.<key>.\n"
        '- ``filters``: ``{"junction": "and", "<field>": {"conditions": {"<operator>": value}}}`` — status '
        "($in, $not_in, $is, $is_not); created_at and updated_at ($after, $before: a date, or a time at "
        "midnight UTC; the export filters whole days); amount and total_amount ($is, $more_than, "
        "$more_than_or_equal, $less_than, $less_than_or_equal; integers in minor units); customer_id ($is, "
        '$in with one id); metadata.<key> ($is). "or" is refused when it would join several conditions.',
    )
    order = serializers.ChoiceField(choices=list(LIST_ORDERINGS), required=False)
    fields = serializers.ListField(child=serializers.CharField(), required=False)
    filters = serializers.DictField(required=False)

    class Meta:
        ref_name = "ExportCreate"


def download_url(request, export: Export) -> str:
    path = reverse("api:export_download", kwargs={"export_id": export.pk})
    query = urlencode({"token": export_jobs.download_token(export.pk)})
    return request.build_absolute_uri(f"{path}?{query}")


def serialize_export(export: Export, request) -> dict:
    return ExportSerializer(export, context={"request": request}).data


def _export(export_id: str) -> Export:
    export = Export.objects.filter(pk=export_id).first()
    if export is None:
        raise NotFound("export", export_id)
    return export


def _parameters(body) -> tuple[dict, str]:
    """The export parameters of a request body and the path they are at (``parameters``, or the top level)."""
    if not isinstance(body, dict):
        raise ValidationError({"": ["The request body must be a JSON object."]})
    errors: dict[str, list[str]] = {}
    if body.get("exported_object", "order") != "order":
        errors["exported_object"] = ['This endpoint exports orders: "order", or leave it out.']
    if "parameters" in body:
        for key in body:
            if key not in ("parameters", "exported_object"):
                errors[key] = ["Send the export's order, fields and filters inside parameters."]
        parameters, path = body["parameters"], "parameters"
    else:
        for key in body:
            if key not in (*PARAMETER_KEYS, "exported_object"):
                errors[key] = ["Unknown field: an export takes parameters (order, fields, filters)."]
        parameters, path = {key: body[key] for key in PARAMETER_KEYS if key in body}, ""
    if errors:
        raise ValidationError(errors)
    return parameters, path


# --- views ------------------------------------------------------------------------------------------------

EXPORT_ID_PATH = [OpenApiParameter("export_id", str, OpenApiParameter.PATH, description="The export's id (exp_…).")]
CREATE_EXAMPLE = OpenApiExample(
    "Paid or fulfilled orders of March, over 20.00, from the web shop",
    request_only=True,
    value={
        "parameters": {
            "order": "-created_at",
            "fields": ["id", "source_id", "status", "total_amount", "metadata.channel"],
            "filters": {
                "junction": "and",
                "status": {"conditions": {"$in": ["PAID", "FULFILLED"]}},
                "created_at": {"conditions": {"$after": "2026-03-01T00:00:00Z", "$before": "2026-04-01T00:00:00Z"}},
                "amount": {"conditions": {"$more_than": 2000}},
                "metadata.channel": {"conditions": {"$is": "web"}},
            },
        }
    },
)


class OrdersExportView(ApiView):
    @extend_schema(
        operation_id="create-order-export",
        summary="Export orders (CSV, in the background)",
        description="Schedules an export of the orders that the filters select, with the same exporter and "
        "the same bytes as the dashboard's Export CSV. The answer is the export object, SCHEDULED (or already "
        "further along); GET /v1/exports/{id} until it is DONE, then download ``result.url``.",
        request=ExportCreateSerializer,
        responses={200: ExportSerializer, **error_responses(400, 413, 415)},
        examples=[CREATE_EXAMPLE],
        tags=["orders"],
    )
    def post(self, request):
        parameters, path = _parameters(request.data)
        job = export_jobs.export_job_parameters(parameters, path=path)
        export = export_jobs.export_job_schedule(actor=api_actor(request), job=job)
        return Response(serialize_export(export, request))


class ExportView(ApiView):
    @extend_schema(
        operation_id="get-export",
        summary="Get an export",
        description="Any export: the API's jobs and the dashboard's downloads (which keep no file: their result "
        "is null).",
        parameters=EXPORT_ID_PATH,
        responses={200: ExportSerializer, **error_responses(404)},
        tags=["exports"],
    )
    def get(self, request, export_id: str):
        return Response(serialize_export(_export(export_id), request))


class HasApiKeyOrDownloadToken(BasePermission):
    """The API key, or the signed token of the export's download link (``?token=…``)."""

    def has_permission(self, request, view) -> bool:
        if isinstance(request.auth, ApiKey):
            return True
        token = request.query_params.get("token")
        if not token:
            raise exceptions.NotAuthenticated(
                f"Authenticate with the {APP_ID_HEADER} and {TOKEN_HEADER} headers, or use the export's "
                "result.url, whose token works alone."
            )
        problem = export_jobs.download_token_problem(view.kwargs["export_id"], token)
        if problem:
            raise exceptions.AuthenticationFailed(problem)
        return True


NOT_READY = OpenApiResponse(ErrorSerializer, description="The export is not DONE, or kept no file.")


class ExportDownloadView(ApiView):
    permission_classes = [HasApiKeyOrDownloadToken]

    @extend_schema(
        operation_id="download-export",
        summary="Download an export's CSV",
        description="The CSV of a DONE export job, as an attachment. Needs the API key, or the token of "
        "``result.url`` (no key needed; valid for an hour).",
        parameters=[
            *EXPORT_ID_PATH,
            OpenApiParameter("token", str, description="The signed token of result.url (instead of the API key)."),
        ],
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY, description="The CSV (UTF-8)."),
            **error_responses(404),
            409: NOT_READY,
        },
        tags=["exports"],
    )
    def get(self, request, export_id: str):
        export = _export(export_id)
        if export.status != ExportStatus.DONE:
            raise ExportNotReady(f"Export {export.pk} is {export.status}: its file is ready once it is DONE.")
        if not export.file:
            raise ExportNotReady(
                f"Export {export.pk} was a dashboard download, streamed to the browser: it kept no file."
            )
        try:
            return export_jobs.export_file_response(export)
        except FileNotFoundError:
            raise NotFound("export file", export.pk) from None
