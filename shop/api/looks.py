"""The shopper API: post a photo, read the items found in it and the products that match."""

from __future__ import annotations

import json

from django.conf import settings
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from shop.api.authentication import ApiKeyAuthentication, ApiKeyRateThrottle, HasApiKey
from shop.api.look_serializers import (
    ClientSerializer,
    ItemProductsSerializer,
    LookCreateSerializer,
    LookSerializer,
    TagValuesSerializer,
    look_data,
    products_data,
)
from shop.exceptions import ShopError
from shop.look_events import wait_for_look
from shop.models import Look, Tag
from shop.selectors.looks import look_get, look_item_get
from shop.selectors.tags import parse_tag_labels, tag_values
from shop.services.looks import (
    ImageTooLarge,
    Region,
    look_create,
    look_item_search,
    search_summary,
)

FINISHED = (Look.Status.DONE, Look.Status.FAILED)
# Multipart overhead allowed beyond the image size limit before the body is refused unread.
FORM_OVERHEAD_BYTES = 64 * 1024


class ShopperApi(APIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasApiKey]
    throttle_classes = [ApiKeyRateThrottle]


class LookListApi(ShopperApi):
    parser_classes = [JSONParser, MultiPartParser]

    @extend_schema(
        request={
            "application/json": LookCreateSerializer,
            "multipart/form-data": LookCreateSerializer,
        },
        parameters=[
            OpenApiParameter("wait", float, description="seconds (up to 10) to wait for the result")
        ],
        responses={200: LookSerializer, 202: LookSerializer},
    )
    def post(self, request: Request) -> Response:
        self._refuse_oversized_body(request)
        wait = _wait_seconds(request.query_params.get("wait"))
        payload = LookCreateSerializer(data=_form_data(request))
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        upload = data.get("image")
        look = look_create(
            api_key=request.auth,
            image_bytes=upload.read() if upload is not None else None,
            image_url=data.get("image_url", ""),
            page_url=data.get("page_url", ""),
            region=Region(**data["region"]) if data.get("region") else None,
        )
        if wait > 0:
            _wait_for(look.pk, wait)
        look = look_get(look_id=look.pk, api_key=request.auth)
        finished = look.status in FINISHED
        response = Response(
            look_data(look, request),
            status=status.HTTP_200_OK if finished else status.HTTP_202_ACCEPTED,
        )
        response["Location"] = reverse("look-detail", args=[look.pk])
        return response

    @staticmethod
    def _refuse_oversized_body(request: Request) -> None:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
        if length > settings.LOOK_MAX_IMAGE_BYTES + FORM_OVERHEAD_BYTES:
            limit = settings.LOOK_MAX_IMAGE_BYTES // (1024 * 1024)
            raise ImageTooLarge(f"the image is larger than the {limit} MB limit")


def _form_data(request: Request) -> dict:
    data = {key: request.data.get(key) for key in ("image_url", "page_url", "region")}
    data = {key: value for key, value in data.items() if value not in (None, "")}
    if "image" in request.FILES:
        data["image"] = request.FILES["image"]
    if isinstance(data.get("region"), str):  # multipart: a JSON string
        try:
            data["region"] = json.loads(data["region"])
        except ValueError:
            raise ShopError("region must be a JSON object with x, y, width, height") from None
    return data


def _wait_seconds(value: str | None) -> float:
    if value in (None, ""):
        return 0.0
    try:
        seconds = float(value)
    except ValueError:
        raise ShopError("wait must be a number of seconds") from None
    if not 0 <= seconds <= settings.LOOK_MAX_WAIT_SECONDS:
        raise ShopError(f"wait must be between 0 and {settings.LOOK_MAX_WAIT_SECONDS:g} seconds")
    return seconds


def _wait_for(look_id, seconds: float) -> None:
    """Until the worker announces the look finished, or the time is up."""
    if not Look.objects.filter(pk=look_id, status__in=FINISHED).exists():
        wait_for_look(look_id, seconds)


class LookDetailApi(ShopperApi):
    @extend_schema(responses=LookSerializer)
    def get(self, request: Request, look_id) -> Response:
        return Response(look_data(look_get(look_id=look_id, api_key=request.auth), request))


class LookItemProductsApi(ShopperApi):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "tags",
                str,
                description="comma-separated kind:name, e.g. colour:Blue,article_type:Shirts",
            ),
            OpenApiParameter("k", int, description="how many products (1-50, default 12)"),
        ],
        responses=ItemProductsSerializer,
    )
    def get(self, request: Request, look_id, index: int) -> Response:
        try:
            tags = parse_tag_labels(request.query_params.get("tags", ""))
        except ValueError as error:
            raise ShopError(str(error)) from None
        k = _int_param(request, "k", default=settings.LOOK_PRODUCTS_PER_ITEM, low=1, high=50)
        item = look_item_get(look_id=look_id, index=index, api_key=request.auth)
        summary = search_summary(look_item_search(item=item, tags=tags, k=k))
        return Response(
            {
                "item": index,
                "tags_used": summary["tags_used"],
                "tags_relaxed": summary["tags_relaxed"],
                "products": products_data(summary["matches"], request),
            }
        )


def _int_param(request: Request, name: str, *, default: int, low: int, high: int) -> int:
    value = request.query_params.get(name)
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except ValueError:
        raise ShopError(f"{name} must be a whole number") from None
    if not low <= number <= high:
        raise ShopError(f"{name} must be between {low} and {high}")
    return number


class TagValuesApi(ShopperApi):
    @extend_schema(
        parameters=[OpenApiParameter("kind", str, required=True, enum=Tag.Kind.values)],
        responses=TagValuesSerializer,
    )
    def get(self, request: Request) -> Response:
        kind = request.query_params.get("kind", "")
        if kind not in Tag.Kind.values:
            raise ShopError(f"kind must be one of {', '.join(Tag.Kind.values)}")
        return Response({"kind": kind, "values": tag_values(kind=kind)})


class ClientApi(ShopperApi):
    """Who the API key belongs to: lets a client check its key."""

    @extend_schema(responses=ClientSerializer)
    def get(self, request: Request) -> Response:
        return Response(
            {"name": request.auth.name, "rate": ApiKeyRateThrottle.rate_for(request.auth, "POST")}
        )
