"""Nearest products to a vector among the products carrying the required tags.

Filtered HNSW alone returns fewer than k rows when the filter is selective (the index
hands out ef_search candidates, most of them filtered away). pgvector 0.8's iterative
index scan keeps walking the graph until k rows pass the filter; when even that stops
short (``hnsw.max_scan_tuples``) while k matching products exist, an exact scan over the
filtered rows answers. When fewer than k products carry all the tags, the least certain
tag is dropped and the search runs again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from django.db import connection, transaction

from shop.exceptions import NotFound
from shop.models import ModelVersion, Product, ProductEmbedding

DEFAULT_EF_SEARCH = 100


@dataclass(frozen=True)
class TagRequirement:
    tag_id: int
    confidence: float = 1.0  # the least confident requirement is relaxed first


@dataclass(frozen=True)
class SimilarProduct:
    product_id: int
    image_id: int
    distance: float


@dataclass(frozen=True)
class SearchResult:
    products: list[SimilarProduct]
    model_version_id: int
    tag_ids_used: tuple[int, ...]
    tag_ids_relaxed: tuple[int, ...]


def similar_products(
    *,
    vector: Sequence[float] | np.ndarray,
    model_version: ModelVersion,
    k: int = 20,
    required_tags: Sequence[TagRequirement] = (),
    exclude_product_ids: Sequence[int] = (),
    ef_search: int = DEFAULT_EF_SEARCH,
) -> SearchResult:
    """The ``k`` active products nearest to ``vector`` (L2) having every required tag."""
    query = _vector_literal(vector, model_version.embedding_dimension)
    if k <= 0:
        raise ValueError("k must be positive")
    requirements = sorted(required_tags, key=lambda requirement: -requirement.confidence)
    relaxed: list[int] = []
    while True:
        tag_ids = [requirement.tag_id for requirement in requirements]
        found = _search(model_version, query, k, tag_ids, exclude_product_ids, ef_search)
        if len(found) >= k or not requirements:
            return SearchResult(found, model_version.pk, tuple(tag_ids), tuple(relaxed))
        relaxed.append(requirements.pop().tag_id)


def _vector_literal(vector: Sequence[float] | np.ndarray, dimension: int) -> str:
    values = np.asarray(vector, dtype=np.float32).ravel()
    if values.shape != (dimension,):
        raise ValueError(f"query has {values.size} dimensions, the model version has {dimension}")
    if not np.isfinite(values).all():
        raise ValueError("query vector has NaN or infinite values")
    return "[" + ",".join(repr(float(value)) for value in values) + "]"


def _search(
    version: ModelVersion,
    query: str,
    k: int,
    tag_ids: list[int],
    exclude: Sequence[int],
    ef_search: int,
) -> list[SimilarProduct]:
    parameters = {
        "query": query,
        "tags": tag_ids,
        "tag_count": len(tag_ids),
        "exclude": list(exclude),
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('hnsw.ef_search', %s, true)", [str(int(ef_search))])
        cursor.execute("SELECT set_config('hnsw.iterative_scan', 'strict_order', true)")
        # The planner underestimates how fast the index finds rows passing a selective
        # filter and would sort the whole version instead; the exact path below is the
        # fallback, so ask for the ordered index scan here.
        cursor.execute("SELECT set_config('enable_seqscan', 'off', true)")
        cursor.execute("SELECT set_config('enable_sort', 'off', true)")
        # Several images of one product may come first: ask for a few more rows.
        cursor.execute(_sql(version, parameters, exact=False, limit=2 * k), parameters)
        found = _best_per_product(cursor.fetchall())[:k]
        if len(found) < k and _matching_products(cursor, version, parameters) > len(found):
            cursor.execute("SELECT set_config('enable_seqscan', 'on', true)")
            cursor.execute("SELECT set_config('enable_sort', 'on', true)")
            cursor.execute(_sql(version, parameters, exact=True, limit=k), parameters)
            found = _best_per_product(cursor.fetchall())[:k]
    return found


def _filters(version: ModelVersion, parameters: dict) -> str:
    # The version id is written into the SQL (an int, never user text) so the planner can
    # match the partial index's predicate.
    clauses = [f"e.model_version_id = {int(version.pk)}", "e.status = 'done'", "p.is_active"]
    if parameters["exclude"]:
        clauses.append("NOT (i.product_id = ANY(%(exclude)s))")
    if parameters["tags"]:
        clauses.append(
            "(SELECT count(*) FROM shop_product_tags pt WHERE pt.product_id = i.product_id"
            " AND pt.tag_id = ANY(%(tags)s)) = %(tag_count)s"
        )
    return " AND ".join(clauses)


def _sql(version: ModelVersion, parameters: dict, *, exact: bool, limit: int) -> str:
    dimension = int(version.embedding_dimension)
    distance = f"(e.vector::vector({dimension}) <-> %(query)s::vector({dimension}))"
    # "+ 0" hides the expression from the HNSW index: an exact scan of the filtered rows.
    order = f"{distance} + 0" if exact else distance
    return f"""
        SELECT i.product_id, e.image_id, {distance} AS distance
        FROM shop_productembedding e
        JOIN shop_productimage i ON i.id = e.image_id
        JOIN shop_product p ON p.id = i.product_id
        WHERE {_filters(version, parameters)}
        ORDER BY {order}
        LIMIT {int(limit)}
    """


def _matching_products(cursor, version: ModelVersion, parameters: dict) -> int:
    cursor.execute(
        f"""
        SELECT count(DISTINCT i.product_id)
        FROM shop_productembedding e
        JOIN shop_productimage i ON i.id = e.image_id
        JOIN shop_product p ON p.id = i.product_id
        WHERE {_filters(version, parameters)}
        """,
        parameters,
    )
    return cursor.fetchone()[0]


def _best_per_product(rows: list[tuple[int, int, float]]) -> list[SimilarProduct]:
    best: dict[int, SimilarProduct] = {}
    for product_id, image_id, distance in rows:
        if product_id not in best:  # rows arrive nearest first
            best[product_id] = SimilarProduct(product_id, image_id, float(distance))
    return list(best.values())


def product_similar(
    *, product_id: int, k: int = 20, same_tag_kinds: Sequence[str] = ("article_type",)
) -> SearchResult:
    """Products most like this one (its primary image), sharing its tags of the given kinds."""
    version = ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).first()
    try:
        product = Product.objects.get(pk=product_id)
    except Product.DoesNotExist:
        raise NotFound(f"product {product_id} does not exist") from None
    embedding = (
        ProductEmbedding.objects.filter(
            image__product=product, model_version=version, status=ProductEmbedding.Status.DONE
        )
        .order_by("-image__is_primary", "image_id")
        .first()
    )
    if version is None or embedding is None:
        raise NotFound(f"product {product_id} has no embedding yet", code="not_embedded")
    tags = product.tags.filter(kind__in=same_tag_kinds)
    return similar_products(
        vector=embedding.vector,
        model_version=version,
        k=k,
        required_tags=[TagRequirement(tag.pk) for tag in tags],
        exclude_product_ids=[product.pk],
    )
