"""The merchandisers' back office: catalog, tags, images, and the state of embeddings."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db import models
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from shop import selectors
from shop.exceptions import ShopError
from shop.models import ModelVersion, Product, ProductEmbedding, ProductImage, Tag
from shop.previews import image_heatmap_png
from shop.services.embeddings import (
    embeddings_retry,
    images_re_embed,
    model_version_start_filling,
)
from shop.services.images import product_image_saved

THUMBNAIL = '<img src="{}" alt="" style="height:{}px;width:auto;border-radius:4px">'


def thumbnail(image: ProductImage | None, height: int = 64) -> str:
    if image is None or not image.image:
        return "—"
    return format_html(THUMBNAIL, image.image.url, height)


def active_status_subquery(field: str) -> Subquery:
    """A field of the active version's embedding of the product's primary image."""
    return Subquery(
        ProductEmbedding.objects.filter(
            image__product=OuterRef("pk"),
            image__is_primary=True,
            model_version__status=ModelVersion.Status.ACTIVE,
        ).values(field)[:1]
    )


class TagKindFilter(admin.SimpleListFilter):
    """One filter per tag kind, listing the tags of that kind in use."""

    kind: str

    def lookups(self, request, model_admin):
        tags = Tag.objects.filter(kind=self.kind).annotate(n=Count("products")).filter(n__gt=0)
        return [(tag.pk, f"{tag.name} ({tag.n})") for tag in tags.order_by("name")]

    def queryset(self, request, queryset):
        return queryset.filter(tags__pk=self.value()) if self.value() else queryset


def tag_kind_filter(kind: str, title: str) -> type[TagKindFilter]:
    return type(
        f"{kind.title()}Filter",
        (TagKindFilter,),
        {"kind": kind, "title": title, "parameter_name": kind},
    )


class EmbeddingStatusFilter(admin.SimpleListFilter):
    title = "embedding (active model)"
    parameter_name = "embedding"

    def lookups(self, request, model_admin):
        return [*ProductEmbedding.Status.choices, ("missing", "Missing")]

    def queryset(self, request, queryset):
        if self.value() == "missing":
            return queryset.filter(embedding_status__isnull=True)
        return queryset.filter(embedding_status=self.value()) if self.value() else queryset


class ProductImageInline(admin.TabularInline):
    model = ProductImage
    extra = 0
    fields = ["preview", "image", "is_primary", "embedding", "heatmap", "sha256"]
    readonly_fields = ["preview", "embedding", "heatmap", "sha256"]

    @admin.display(description="preview")
    def preview(self, image: ProductImage) -> str:
        return thumbnail(image, 96)

    @admin.display(description="detector")
    def heatmap(self, image: ProductImage) -> str:
        if image.pk is None:
            return "—"
        url = reverse("admin:shop_productimage_heatmap", args=[image.pk])
        return format_html('<a href="{}" target="_blank">CAM heatmap</a>', url)

    @admin.display(description="embedding")
    def embedding(self, image: ProductImage) -> str:
        rows = image.embeddings.select_related("model_version").order_by("-model_version_id")
        return ", ".join(f"{row.model_version}: {row.get_status_display()}" for row in rows) or "—"


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["picture", "sku", "title", "brand", "tag_list", "embedding", "is_active"]
    list_display_links = ["picture", "sku"]
    list_filter = [
        "is_active",
        EmbeddingStatusFilter,
        tag_kind_filter("category", "category"),
        tag_kind_filter("article_type", "article type"),
        tag_kind_filter("colour", "colour"),
        tag_kind_filter("gender", "gender"),
    ]
    search_fields = ["sku", "title", "brand"]
    autocomplete_fields = ["tags"]
    readonly_fields = ["similar"]
    inlines = [ProductImageInline]
    actions = ["re_embed", "show_similar"]
    list_per_page = 50
    # A product URL typed without a scheme is an https one (Django 6's default).
    formfield_overrides = {
        models.URLField: {"form_class": forms.URLField, "assume_scheme": "https"},
    }

    def get_queryset(self, request: HttpRequest) -> QuerySet[Product]:
        return (
            super()
            .get_queryset(request)
            .prefetch_related("tags", "images")
            .annotate(
                embedding_status=active_status_subquery("status"),
                embedding_version=active_status_subquery("model_version__name"),
            )
        )

    @admin.display(description="")
    def picture(self, product: Product) -> str:
        images = list(product.images.all())
        primary = next(
            (image for image in images if image.is_primary), images[0] if images else None
        )
        return thumbnail(primary)

    @admin.display(description="visually similar")
    def similar(self, product: Product) -> str:
        if product.pk is None:
            return "—"
        url = reverse("admin:shop_product_similar", args=[product.pk])
        return format_html('<a href="{}">Show the nearest products</a>', url)

    @admin.display(description="tags")
    def tag_list(self, product: Product) -> str:
        return ", ".join(tag.name for tag in product.tags.all())

    @admin.display(description="embedding", ordering="embedding_status")
    def embedding(self, product: Product) -> str:
        if product.embedding_status is None:
            return "missing"
        return f"{product.embedding_status} ({product.embedding_version})"

    def save_formset(self, request, form, formset, change) -> None:
        formset.save()
        for image_form in formset.forms:
            image = image_form.instance
            if image.pk and "image" in image_form.changed_data:
                product_image_saved(image=image)

    @admin.action(description="Re-embed selected products")
    def re_embed(self, request: HttpRequest, queryset: QuerySet[Product]) -> None:
        image_ids = list(
            ProductImage.objects.filter(product__in=queryset).values_list("pk", flat=True)
        )
        queued = images_re_embed(image_ids=image_ids)
        self.message_user(request, f"Queued {queued} images for embedding.", messages.SUCCESS)

    @admin.action(description="Show visually similar products")
    def show_similar(self, request: HttpRequest, queryset: QuerySet[Product]):
        product = queryset.first()
        return HttpResponseRedirect(reverse("admin:shop_product_similar", args=[product.pk]))

    def get_urls(self):
        similar = path(
            "<int:product_id>/similar/",
            self.admin_site.admin_view(self.similar_view),
            name="shop_product_similar",
        )
        heatmap = path(
            "image/<int:image_id>/heatmap.png",
            self.admin_site.admin_view(self.heatmap_view),
            name="shop_productimage_heatmap",
        )
        return [similar, heatmap, *super().get_urls()]

    def heatmap_view(self, request: HttpRequest, image_id: int) -> HttpResponse:
        try:
            png = image_heatmap_png(image_id=image_id)
        except ShopError as problem:
            return HttpResponse(
                problem.message, status=problem.status_code, content_type="text/plain"
            )
        return HttpResponse(png, content_type="image/png")

    def similar_view(self, request: HttpRequest, product_id: int) -> TemplateResponse:
        product = selectors.product_get(product_id=product_id)
        kinds = request.GET.getlist("same") or ["article_type"]
        try:
            result = selectors.product_similar(product_id=product_id, k=24, same_tag_kinds=kinds)
            hits, error, relaxed = result.products, None, result.tag_ids_relaxed
        except ShopError as problem:
            hits, error, relaxed = [], problem.message, ()
        products = Product.objects.prefetch_related("images").in_bulk([h.product_id for h in hits])
        rows = [(products[h.product_id], h.distance) for h in hits if h.product_id in products]
        context = {
            **self.admin_site.each_context(request),
            "title": f"Visually similar to {product.sku}",
            "product": product,
            "rows": [(p, distance, thumbnail(p.images.first(), 128)) for p, distance in rows],
            "picture": thumbnail(product.images.first(), 192),
            "error": error,
            "relaxed": Tag.objects.filter(pk__in=relaxed),
            "kinds": kinds,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/shop/product/similar.html", context)


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "product_count"]
    list_filter = ["kind"]
    search_fields = ["name"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(product_count=Count("products"))

    @admin.display(ordering="product_count", description="products")
    def product_count(self, tag: Tag) -> int:
        return tag.product_count


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["name", "status", "embedding_dimension", "progress", "activated_at"]
    list_filter = ["status"]
    readonly_fields = [
        "name",
        "source",
        "weights_sha256",
        "embedding_dimension",
        "status",
        "progress",
        "created_at",
        "activated_at",
        "metrics",
        "tag_vocabulary",
    ]
    actions = ["start_filling", "retry_failed"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # versions are registered from trained checkpoints, not typed in

    def get_queryset(self, request):
        done, failed, pending = (
            Q(embeddings__status=status) for status in ("done", "failed", "pending")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(
                done=Count("embeddings", filter=done),
                failed=Count("embeddings", filter=failed),
                pending=Count("embeddings", filter=pending),
            )
        )

    @admin.display(description="embedded")
    def progress(self, version: ModelVersion) -> str:
        total = ProductImage.objects.count()
        done = getattr(version, "done", None)
        if done is None:
            done, total = selectors.embedding_progress(version)
        share = 100 * done / total if total else 100
        return (
            f"{done} / {total} ({share:.0f}%), {version.failed} failed, {version.pending} pending"
        )

    @admin.action(description="Embed the catalog with this version (it becomes active when done)")
    def start_filling(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        if queryset.count() != 1:
            self.message_user(request, "Choose exactly one model version.", messages.ERROR)
            return
        try:
            queued = model_version_start_filling(model_version_id=queryset.get().pk)
        except ShopError as problem:
            self.message_user(request, problem.message, messages.ERROR)
            return
        self.message_user(request, f"Queued {queued} images.", messages.SUCCESS)

    @admin.action(description="Retry failed embeddings")
    def retry_failed(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        queued = embeddings_retry()
        self.message_user(request, f"Queued {queued} images again.", messages.SUCCESS)


@admin.register(ProductEmbedding)
class ProductEmbeddingAdmin(admin.ModelAdmin):
    list_display = [
        "picture",
        "product",
        "model_version",
        "status",
        "attempts",
        "error",
        "updated_at",
    ]
    list_filter = ["status", "model_version"]
    search_fields = ["image__product__sku", "error"]
    list_select_related = ["image__product", "model_version"]
    actions = ["retry"]
    fields = [
        "image",
        "model_version",
        "status",
        "image_sha256",
        "attempts",
        "error",
        "predicted_tags",
    ]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="")
    def picture(self, embedding: ProductEmbedding) -> str:
        return thumbnail(embedding.image, 48)

    @admin.display(description="product")
    def product(self, embedding: ProductEmbedding) -> Product:
        return embedding.image.product

    @admin.action(description="Retry selected")
    def retry(self, request: HttpRequest, queryset: QuerySet[ProductEmbedding]) -> None:
        queued = embeddings_retry(image_ids=list(queryset.values_list("image_id", flat=True)))
        self.message_user(request, f"Queued {queued} images again.", messages.SUCCESS)
