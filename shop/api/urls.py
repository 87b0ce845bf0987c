from django.urls import path

from shop.api.views import ProductDetailApi, ProductImageApi, ProductListApi, ProductSimilarApi

urlpatterns = [
    path("products", ProductListApi.as_view(), name="product-list"),
    path("products/<int:product_id>", ProductDetailApi.as_view(), name="product-detail"),
    path("products/<int:product_id>/images", ProductImageApi.as_view(), name="product-images"),
    path("products/<int:product_id>/similar", ProductSimilarApi.as_view(), name="product-similar"),
]
