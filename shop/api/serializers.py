from __future__ import annotations

from rest_framework import serializers

from shop.models import Product, ProductImage, Tag


class TagSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tag
        fields = ["kind", "name"]


class ProductImageSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()

    class Meta:
        model = ProductImage
        fields = ["id", "url", "is_primary", "sha256"]

    def get_url(self, image: ProductImage) -> str:
        request = self.context.get("request")
        url = image.image.url
        return request.build_absolute_uri(url) if request is not None else url


class ProductSerializer(serializers.ModelSerializer):
    tags = TagSerializer(many=True, read_only=True)
    images = ProductImageSerializer(many=True, read_only=True)

    class Meta:
        model = Product
        fields = [
            "id",
            "sku",
            "title",
            "brand",
            "price",
            "currency",
            "product_url",
            "tags",
            "images",
        ]
