"""Catalog rows (products, tags, images, embeddings per model version) and shoppers' looks."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from pgvector.django import VectorField


class TimeStamped(models.Model):
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class Tag(models.Model):
    class Kind(models.TextChoices):
        CATEGORY = "category", "Category"
        SUB_CATEGORY = "sub_category", "Sub-category"
        ARTICLE_TYPE = "article_type", "Article type"
        COLOUR = "colour", "Colour"
        GENDER = "gender", "Gender"
        USAGE = "usage", "Usage"
        SEASON = "season", "Season"
        BRAND = "brand", "Brand"
        FREE = "free", "Free tag"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["kind", "name"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "name"], name="tag_unique_kind_name")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.name}"


class Product(TimeStamped):
    sku = models.CharField("SKU", max_length=64, unique=True)
    title = models.CharField(max_length=300)
    brand = models.CharField(max_length=100, blank=True)
    price = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True, help_text="ISO 4217 code, e.g. EUR")
    product_url = models.URLField(max_length=500, blank=True)
    is_active = models.BooleanField(default=True)
    tags = models.ManyToManyField(Tag, related_name="products", blank=True)

    class Meta:
        ordering = ["sku"]
        constraints = [
            models.CheckConstraint(
                condition=Q(price__isnull=True) | Q(price__gte=0), name="product_price_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sku} {self.title}"


class ProductImage(TimeStamped):
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="images")
    image = models.ImageField(upload_to="products/%Y/%m/")
    sha256 = models.CharField(max_length=64, help_text="SHA-256 of the image bytes")
    is_primary = models.BooleanField(default=False)

    class Meta:
        ordering = ["product_id", "-is_primary", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["product"],
                condition=Q(is_primary=True),
                name="one_primary_image_per_product",
            ),
            models.UniqueConstraint(
                fields=["product", "sha256"], name="image_unique_bytes_per_product"
            ),
        ]

    def __str__(self) -> str:
        return f"image {self.pk} of {self.product_id}"


class ModelVersion(models.Model):
    """An embedding model: which weights made a vector, and how long the vectors are.

    Life cycle: ``registered`` -> ``filling`` (the catalog is being embedded in the
    background) -> ``active`` (search uses its vectors) -> ``retired``. Exactly one version
    is active at a time; search keeps using it while the next one fills.
    """

    class Status(models.TextChoices):
        REGISTERED = "registered", "Registered"
        FILLING = "filling", "Embedding the catalog"
        ACTIVE = "active", "Active"
        RETIRED = "retired", "Retired"

    name = models.CharField(max_length=100, unique=True)
    source = models.CharField(
        max_length=500,
        help_text="registry weights name, or checkpoint file (relative to MODEL_DIR)",
    )
    weights_sha256 = models.CharField(max_length=64)
    embedding_dimension = models.PositiveIntegerField()
    tag_vocabulary = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.REGISTERED)
    created_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["status"], condition=Q(status="active"), name="one_active_model_version"
            ),
            models.UniqueConstraint(
                fields=["status"], condition=Q(status="filling"), name="one_filling_model_version"
            ),
            models.CheckConstraint(
                condition=Q(embedding_dimension__gt=0, embedding_dimension__lte=2000),
                name="model_embedding_dimension_indexable",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ProductEmbedding(models.Model):
    """The embedding of one product image by one model version, or why it is missing.

    The vector column has no fixed dimension so that model versions of different sizes
    live side by side; each version gets a partial HNSW index over ``vector::vector(n)``.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    image = models.ForeignKey(ProductImage, on_delete=models.CASCADE, related_name="embeddings")
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.PROTECT, related_name="embeddings"
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    image_sha256 = models.CharField(
        max_length=64, blank=True, help_text="SHA-256 of the bytes the vector was made from"
    )
    vector = VectorField(null=True, blank=True)
    predicted_tags = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["image", "model_version"], name="one_embedding_per_image_and_model"
            ),
            models.CheckConstraint(
                condition=~Q(status="done") | Q(vector__isnull=False),
                name="done_embedding_has_vector",
            ),
        ]
        indexes = [models.Index(fields=["model_version", "status"])]

    def __str__(self) -> str:
        return f"embedding of image {self.image_id} by {self.model_version_id}"


class ApiKey(models.Model):
    """A client of the shopper API (the browser extension, a partner site, the look page).

    Only a hash of the key is stored; the key itself is shown once, when it is created.
    """

    name = models.CharField(max_length=100, unique=True)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    key_sha256 = models.CharField(max_length=64, unique=True, editable=False)
    is_active = models.BooleanField(default=True)
    rate = models.CharField(
        max_length=20,
        blank=True,
        help_text="looks this client may start, e.g. 60/min or 1000/day; empty: the default",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class Look(models.Model):
    """A shopper's photo on its way through detection and search, and then its result.

    The photo's bytes are kept only until the look is processed; the row itself is purged
    after ``LOOK_RETENTION_HOURS``.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    api_key = models.ForeignKey(
        ApiKey, on_delete=models.SET_NULL, null=True, blank=True, related_name="looks"
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    image_url = models.URLField(max_length=2000, blank=True)
    page_url = models.URLField(max_length=2000, blank=True)
    image_data = models.BinaryField(null=True, blank=True, editable=False)
    image_sha256 = models.CharField(max_length=64, blank=True)
    image_width = models.PositiveIntegerField(null=True, blank=True)
    image_height = models.PositiveIntegerField(null=True, blank=True)
    region = models.JSONField(null=True, blank=True, help_text="x, y, width, height in pixels")
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    error_code = models.CharField(max_length=32, blank=True)
    error_detail = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    worker = models.CharField(
        max_length=200, blank=True, help_text="the worker that took the latest attempt"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "started_at"]),
            models.Index(fields=["created_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(image_url="") | Q(image_data__isnull=False) | ~Q(status="queued"),
                name="queued_look_has_an_image",
            ),
        ]

    def __str__(self) -> str:
        return f"look {self.pk}"


class LookItem(models.Model):
    """One item found in a look: where, what, its vector, and the products that match it."""

    look = models.ForeignKey(Look, on_delete=models.CASCADE, related_name="items")
    index = models.PositiveSmallIntegerField()
    class_name = models.CharField(max_length=40, blank=True)
    score = models.FloatField()
    x = models.PositiveIntegerField()
    y = models.PositiveIntegerField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    source = models.CharField(max_length=10)
    tags = models.JSONField(default=list, help_text="predicted tags: kind, value, probability")
    vector = VectorField()
    tags_used = models.JSONField(default=list)
    tags_relaxed = models.JSONField(default=list)
    matches = models.JSONField(default=list, help_text="product_id and distance, nearest first")

    class Meta:
        ordering = ["look", "index"]
        constraints = [
            models.UniqueConstraint(fields=["look", "index"], name="look_item_unique_index")
        ]

    def __str__(self) -> str:
        return f"item {self.index} of {self.look_id}"
