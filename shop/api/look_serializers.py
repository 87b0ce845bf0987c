"""Shapes of the shopper API: input validation, and the look as clients see it."""

from __future__ import annotations

from rest_framework import serializers
from rest_framework.request import Request

from shop.models import Look, LookItem
from shop.selectors.looks import products_by_id


class RegionSerializer(serializers.Serializer):
    x = serializers.IntegerField(min_value=0)
    y = serializers.IntegerField(min_value=0)
    width = serializers.IntegerField(min_value=1)
    height = serializers.IntegerField(min_value=1)


class LookCreateSerializer(serializers.Serializer):
    image = serializers.FileField(required=False, help_text="the photo (multipart only)")
    image_url = serializers.URLField(
        required=False, max_length=2000, help_text="a public http(s) URL of the photo"
    )
    page_url = serializers.URLField(
        required=False, max_length=2000, help_text="the page the photo was found on"
    )
    region = RegionSerializer(
        required=False, help_text="the part of the photo to search, in the photo's pixels"
    )

    def validate(self, data: dict) -> dict:
        if ("image" in data) == ("image_url" in data):
            raise serializers.ValidationError("send either image (a file) or image_url")
        return data


class BoxSerializer(RegionSerializer):
    pass


class PredictedTagSerializer(serializers.Serializer):
    kind = serializers.CharField()
    value = serializers.CharField()
    probability = serializers.FloatField()


class ProductCardSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    sku = serializers.CharField()
    title = serializers.CharField()
    brand = serializers.CharField()
    price = serializers.DecimalField(max_digits=10, decimal_places=2, allow_null=True)
    currency = serializers.CharField()
    image_url = serializers.URLField(allow_null=True)
    product_url = serializers.CharField()
    distance = serializers.FloatField()


class LookItemSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    class_name = serializers.CharField(allow_null=True)
    score = serializers.FloatField()
    box = BoxSerializer()
    source = serializers.ChoiceField(choices=["detected", "region"])
    tags = PredictedTagSerializer(many=True)
    tags_used = serializers.ListField(child=serializers.CharField())
    tags_relaxed = serializers.ListField(child=serializers.CharField())
    products = ProductCardSerializer(many=True)


class LookErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    detail = serializers.CharField()


class ImageSizeSerializer(serializers.Serializer):
    width = serializers.IntegerField()
    height = serializers.IntegerField()


class LookSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=Look.Status.choices)
    error = LookErrorSerializer(allow_null=True)
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    image = ImageSizeSerializer(allow_null=True)
    region = RegionSerializer(allow_null=True)
    model_version = serializers.CharField(allow_null=True)
    items = LookItemSerializer(many=True)


class ItemProductsSerializer(serializers.Serializer):
    item = serializers.IntegerField()
    tags_used = serializers.ListField(child=serializers.CharField())
    tags_relaxed = serializers.ListField(child=serializers.CharField())
    products = ProductCardSerializer(many=True)


class TagValuesSerializer(serializers.Serializer):
    kind = serializers.CharField()
    values = serializers.ListField(child=serializers.CharField())


class ClientSerializer(serializers.Serializer):
    name = serializers.CharField()
    rate = serializers.CharField()


def look_data(look: Look, request: Request) -> dict:
    """A look as the API shows it; product details are read fresh (prices change)."""
    items = list(look.items.all()) if look.status == Look.Status.DONE else []
    products = products_by_id(match["product_id"] for item in items for match in item.matches)
    return {
        "id": str(look.pk),
        "status": look.status,
        "error": (
            {"code": look.error_code, "detail": look.error_detail}
            if look.status == Look.Status.FAILED
            else None
        ),
        "created_at": look.created_at.isoformat(),
        "finished_at": look.finished_at.isoformat() if look.finished_at else None,
        "image": (
            {"width": look.image_width, "height": look.image_height} if look.image_width else None
        ),
        "region": look.region,
        "model_version": look.model_version.name if look.model_version else None,
        "items": [_item_data(item, products, request) for item in items],
    }


def _item_data(item: LookItem, products: dict, request: Request) -> dict:
    return {
        "index": item.index,
        "class_name": item.class_name or None,
        "score": item.score,
        "box": {"x": item.x, "y": item.y, "width": item.width, "height": item.height},
        "source": item.source,
        "tags": item.tags,
        "tags_used": item.tags_used,
        "tags_relaxed": item.tags_relaxed,
        "products": products_data(item.matches, request, products),
    }


def products_data(matches: list[dict], request: Request, products: dict | None = None) -> list:
    """Product cards for search matches, nearest first; inactive products are left out."""
    if products is None:
        products = products_by_id(match["product_id"] for match in matches)
    cards = []
    for match in matches:
        product = products.get(match["product_id"])
        if product is None:
            continue
        images = list(product.images.all())
        cards.append(
            {
                "id": product.pk,
                "sku": product.sku,
                "title": product.title,
                "brand": product.brand,
                "price": None if product.price is None else str(product.price),
                "currency": product.currency,
                "image_url": request.build_absolute_uri(images[0].image.url) if images else None,
                "product_url": product.product_url,
                "distance": match["distance"],
            }
        )
    return cards
