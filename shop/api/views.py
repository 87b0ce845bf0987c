from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from shop import selectors
from shop.api.permissions import ReadOnlyOrCatalogEditor
from shop.api.serializers import (
    ImageUploadSerializer,
    ProductInputSerializer,
    ProductSerializer,
    SimilarProductsSerializer,
    SimilarQuerySerializer,
)
from shop.exceptions import ShopError
from shop.models import ModelVersion, Tag
from shop.services import products


class ProductListApi(ListAPIView):
    serializer_class = ProductSerializer
    permission_classes = [ReadOnlyOrCatalogEditor]

    def get_queryset(self):
        return selectors.product_list()

    @extend_schema(request=ProductInputSerializer, responses={201: ProductSerializer})
    def post(self, request: Request) -> Response:
        payload = ProductInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        product = products.product_create(**payload.validated_arguments())
        return Response(serialize_product(product.pk, request), status=status.HTTP_201_CREATED)


class ProductDetailApi(APIView):
    serializer_class = ProductSerializer
    permission_classes = [ReadOnlyOrCatalogEditor]

    def get(self, request: Request, product_id: int) -> Response:
        return Response(serialize_product(product_id, request))

    @extend_schema(request=ProductInputSerializer, responses=ProductSerializer)
    def patch(self, request: Request, product_id: int) -> Response:
        payload = ProductInputSerializer(data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        products.product_update(product_id=product_id, **payload.validated_arguments())
        return Response(serialize_product(product_id, request))


class ProductImageApi(APIView):
    permission_classes = [ReadOnlyOrCatalogEditor]
    parser_classes = [MultiPartParser]

    @extend_schema(
        request={"multipart/form-data": ImageUploadSerializer}, responses={201: ProductSerializer}
    )
    def post(self, request: Request, product_id: int) -> Response:
        payload = ImageUploadSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        upload = payload.validated_data["file"]
        if upload.size > products.MAX_IMAGE_BYTES:
            raise ShopError("images are limited to 20 MiB", code="too_large")
        products.product_image_add(
            product_id=product_id,
            name=upload.name,
            data=upload.read(),
            is_primary=payload.validated_data["is_primary"],
        )
        return Response(serialize_product(product_id, request), status=status.HTTP_201_CREATED)


def serialize_product(product_id: int, request: Request) -> dict:
    product = selectors.product_get(product_id=product_id)
    return ProductSerializer(product, context={"request": request}).data


class ProductSimilarApi(APIView):
    @extend_schema(parameters=[SimilarQuerySerializer], responses=SimilarProductsSerializer)
    def get(self, request: Request, product_id: int) -> Response:
        query = SimilarQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        result = selectors.product_similar(
            product_id=product_id,
            k=query.validated_data["k"],
            same_tag_kinds=query.validated_data["same"],
        )
        products = selectors.product_list().in_bulk([hit.product_id for hit in result.products])
        tags = Tag.objects.in_bulk([*result.tag_ids_used, *result.tag_ids_relaxed])
        data = {
            "model_version": ModelVersion.objects.get(pk=result.model_version_id).name,
            "tags_required": [tags[pk] for pk in result.tag_ids_used],
            "tags_relaxed": [tags[pk] for pk in result.tag_ids_relaxed],
            "results": [
                {"distance": hit.distance, "product": products[hit.product_id]}
                for hit in result.products
                if hit.product_id in products
            ],
        }
        return Response(SimilarProductsSerializer(data, context={"request": request}).data)
