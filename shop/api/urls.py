from django.urls import path

from shop.api.looks import (
    ClientApi,
    LookDetailApi,
    LookItemProductsApi,
    LookListApi,
    TagValuesApi,
)
from shop.api.views import ProductDetailApi, ProductImageApi, ProductListApi, ProductSimilarApi

urlpatterns = [
    path("products", ProductListApi.as_view(), name="product-list"),
    path("products/<int:product_id>", ProductDetailApi.as_view(), name="product-detail"),
    path("products/<int:product_id>/images", ProductImageApi.as_view(), name="product-images"),
    path("products/<int:product_id>/similar", ProductSimilarApi.as_view(), name="product-similar"),
    path("looks", LookListApi.as_view(), name="look-list"),
    path("looks/<uuid:look_id>", LookDetailApi.as_view(), name="look-detail"),
    path(
        "looks/<uuid:look_id>/items/<int:index>/products",
        LookItemProductsApi.as_view(),
        name="look-item-products",
    ),
    path("tags", TagValuesApi.as_view(), name="tag-values"),
    path("client", ClientApi.as_view(), name="client"),
]
