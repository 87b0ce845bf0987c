from __future__ import annotations

from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from shop import selectors
from shop.api.serializers import ProductSerializer


class ProductListApi(ListAPIView):
    serializer_class = ProductSerializer

    def get_queryset(self):
        return selectors.product_list()


class ProductDetailApi(APIView):
    serializer_class = ProductSerializer

    def get(self, request: Request, product_id: int) -> Response:
        product = selectors.product_get(product_id=product_id)
        return Response(ProductSerializer(product, context={"request": request}).data)
