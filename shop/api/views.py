from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from shop import selectors
from shop.api.serializers import (
    ProductSerializer,
    SimilarProductsSerializer,
    SimilarQuerySerializer,
)
from shop.models import ModelVersion, Tag


class ProductListApi(ListAPIView):
    serializer_class = ProductSerializer

    def get_queryset(self):
        return selectors.product_list()


class ProductDetailApi(APIView):
    serializer_class = ProductSerializer

    def get(self, request: Request, product_id: int) -> Response:
        product = selectors.product_get(product_id=product_id)
        return Response(ProductSerializer(product, context={"request": request}).data)


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
