"""Reads: the catalog, and nearest-neighbour search over product embeddings."""

from shop.selectors.catalog import (
    active_model_version,
    embedding_progress,
    product_get,
    product_list,
)
from shop.selectors.search import (
    SearchResult,
    SimilarProduct,
    TagRequirement,
    product_similar,
    similar_products,
)

__all__ = [
    "SearchResult",
    "SimilarProduct",
    "TagRequirement",
    "active_model_version",
    "embedding_progress",
    "product_get",
    "product_list",
    "product_similar",
    "similar_products",
]
