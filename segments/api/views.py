"""Segments API endpoints (paths relative to /api), Voucherify's segment object plus ``customers_count``:

    POST   /v1/segments        create: {name, type: "static", customers: [...]} or {name, type: "auto-update",
                               filter: {...}}
    GET    /v1/segments        list: limit, page, order (as the orders and customers lists)
    GET    /v1/segments/{id}   one segment
    DELETE /v1/segments/{id}   delete it and its member list (204)

The customers of a segment are ``GET /v1/customers?segment_id=seg_…`` (the ``segment`` filter that this
app registers into orders' customer filters). HTTP only: parse with the serializers, write through
``segments.services`` (which names every problem by its field path), read with ``segments.api.selectors``.
"""

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework.response import Response

from orders.api import selectors as order_api_selectors
from orders.api.views import LIST_ORDERINGS, LIST_QUERY, list_parameters
from orders.exceptions import NotFound
from orders_dashboard.api.schema import error_responses
from orders_dashboard.api.views import ApiView, json_object_body

from .. import selectors as segment_selectors
from .. import services
from . import selectors
from .serializers import (
    SegmentListSerializer,
    SegmentSerializer,
    SegmentWriteSerializer,
    serialize_segment,
    serialize_segments,
)

SEGMENT_ID_PATH = [
    OpenApiParameter("segment_id", str, OpenApiParameter.PATH, description="The segment's id (seg_…)."),
]
STATIC_EXAMPLE = OpenApiExample(
    "A static segment",
    request_only=True,
    value={"name": "VIP list", "type": "static", "customers": ["cust_0b7d7dfb090be5c619", "bob@example.com"]},
)
AUTO_UPDATE_EXAMPLE = OpenApiExample(
    "An auto-update segment",
    request_only=True,
    value={
        "name": "Loyal big spenders",
        "type": "auto-update",
        "filter": {
            "junction": "and",
            "summary.orders.total_amount": {"conditions": {"$more_than_or_equal": [50000]}},
            "summary.orders.total_count": {"conditions": {"$more_than": [3]}},
            "summary.orders.last_order_date": {"conditions": {"$after": ["90 days ago"]}},
        },
    },
)


class SegmentsView(ApiView):
    @extend_schema(
        operation_id="list-segments",
        summary="List segments",
        parameters=LIST_QUERY,
        responses={200: SegmentListSerializer, **error_responses(400)},
        tags=["segments"],
    )
    def get(self, request):
        limit, page, ordering = list_parameters(request.query_params)
        queryset = selectors.segments_with_static_counts().order_by(*LIST_ORDERINGS[ordering][1])
        page_ = order_api_selectors.page_of(queryset, page=page, limit=limit, filtered=False)
        selectors.count_auto_update(page_.rows)
        return Response(
            {
                "object": "list",
                "data_ref": "segments",
                "segments": serialize_segments(page_.rows),
                "total": page_.total,
            }
        )

    @extend_schema(
        operation_id="create-segment",
        summary="Create a segment",
        description="A static segment holds the customers named in ``customers`` (ids or source ids; all must "
        "exist; at most 20,000); an auto-update segment holds whoever its ``filter`` selects at any moment. "
        "Every problem is a 400 invalid_payload naming its field: ``name``, ``type``, ``customers``, or the "
        "condition at fault (``filter.summary.orders.total_amount.$more_than``).",
        request=SegmentWriteSerializer,
        responses={200: SegmentSerializer, **error_responses(400, 413, 415)},
        examples=[STATIC_EXAMPLE, AUTO_UPDATE_EXAMPLE],
        tags=["segments"],
    )
    def post(self, request):
        serializer = SegmentWriteSerializer(data=json_object_body(request))
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        segment = services.segment_create(
            name=data["name"], type=data["type"], filter=data.get("filter"), customers=data.get("customers", ())
        )
        return Response(serialize_segment(selectors.segment_with_count(segment)))


class SegmentView(ApiView):
    @extend_schema(
        operation_id="get-segment",
        summary="Get a segment",
        parameters=SEGMENT_ID_PATH,
        responses={200: SegmentSerializer, **error_responses(404)},
        tags=["segments"],
    )
    def get(self, request, segment_id: str):
        segment = segment_selectors.segment_get(segment_id)
        if segment is None:
            raise NotFound("segment", segment_id)
        return Response(serialize_segment(selectors.segment_with_count(segment)))

    @extend_schema(
        operation_id="delete-segment",
        summary="Delete a segment",
        description="Deletes the segment and its member list (the customers stay).",
        parameters=SEGMENT_ID_PATH,
        request=None,
        responses={204: None, **error_responses(404)},
        tags=["segments"],
    )
    def delete(self, request, segment_id: str):
        services.segment_delete(segment=segment_id)
        return Response(status=204)
