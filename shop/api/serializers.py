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


class SimilarProductSerializer(serializers.Serializer):
    distance = serializers.FloatField()
    product = ProductSerializer()


class SimilarProductsSerializer(serializers.Serializer):
    model_version = serializers.CharField()
    tags_required = TagSerializer(many=True)
    tags_relaxed = TagSerializer(many=True)
    results = SimilarProductSerializer(many=True)


class SimilarQuerySerializer(serializers.Serializer):
    k = serializers.IntegerField(min_value=1, max_value=100, default=20)
    same = serializers.CharField(
        default="article_type",
        help_text="comma-separated tag kinds the results must share with the product",
    )

    def validate_same(self, value: str) -> list[str]:
        kinds = [kind.strip() for kind in value.split(",") if kind.strip()]
        unknown = sorted(set(kinds) - set(Tag.Kind.values))
        if unknown:
            raise serializers.ValidationError(
                f"unknown tag kind(s) {', '.join(unknown)}; known: {', '.join(Tag.Kind.values)}"
            )
        return kinds


class TagInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Tag.Kind.choices)
    name = serializers.CharField(max_length=100)


class ProductInputSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=64)
    title = serializers.CharField(max_length=300)
    brand = serializers.CharField(max_length=100, required=False, allow_blank=True)
    price = serializers.DecimalField(
        max_digits=10, decimal_places=2, min_value=0, required=False, allow_null=True
    )
    currency = serializers.RegexField(r"^[A-Za-z]{3}$", required=False, allow_blank=True)
    product_url = serializers.URLField(max_length=500, required=False, allow_blank=True)
    is_active = serializers.BooleanField(required=False)
    tags = TagInputSerializer(many=True, required=False)

    def validated_arguments(self) -> dict:
        data = dict(self.validated_data)
        if "tags" in data:
            data["tags"] = [(tag["kind"], tag["name"]) for tag in data["tags"]]
        return data


class ImageUploadSerializer(serializers.Serializer):
    file = serializers.FileField()
    is_primary = serializers.BooleanField(default=False)
