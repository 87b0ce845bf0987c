"""Reads of tags by their label: ``kind:name`` as clients write them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django.db.models import Q

from shop.models import Product, Tag


def tags_by_label(labels: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """(kind, name) -> tag id, for the labels that exist (one query)."""
    labels = list(dict.fromkeys(labels))
    if not labels:
        return {}
    condition = Q()
    for kind, name in labels:
        condition |= Q(kind=kind, name=name)
    return {(tag.kind, tag.name): tag.pk for tag in Tag.objects.filter(condition)}


def tag_labels(tag_ids: Iterable[int]) -> dict[int, str]:
    """tag id -> ``kind:name``."""
    tags = Tag.objects.filter(pk__in=list(tag_ids))
    return {tag.pk: f"{tag.kind}:{tag.name}" for tag in tags}


def tag_values(*, kind: str) -> list[str]:
    """Names of the tags of one kind that active products carry, alphabetically."""
    return list(
        Tag.objects.filter(kind=kind, products__is_active=True)
        .values_list("name", flat=True)
        .distinct()
        .order_by("name")
    )


def parse_tag_labels(text: str) -> list[tuple[str, str]]:
    """``"colour:Blue,article_type:Shirts"`` -> [("colour", "Blue"), ("article_type", "Shirts")].

    Raises ValueError naming the first malformed label or unknown kind.
    """
    labels = []
    for part in (piece.strip() for piece in text.split(",")):
        if not part:
            continue
        kind, separator, name = part.partition(":")
        if not separator or not name.strip():
            raise ValueError(f"tag {part!r} is not of the form kind:name")
        if kind.strip() not in Tag.Kind.values:
            raise ValueError(
                f"unknown tag kind {kind.strip()!r}; known: {', '.join(Tag.Kind.values)}"
            )
        labels.append((kind.strip(), name.strip()))
    return labels


def fashion_class_tags() -> dict[str, dict[str, set[str]]]:
    """Fashion class -> tag kind -> the names active products of that class carry.

    E.g. footwear -> article_type -> {"Casual Shoes", "Sandals", ...}: what a box the
    detector calls footwear may be tagged with.
    """
    from recommender.fashion_classes import catalog_to_fashion

    kinds = [Tag.Kind.CATEGORY, Tag.Kind.SUB_CATEGORY, Tag.Kind.ARTICLE_TYPE]
    links = Product.tags.through.objects.filter(
        product__is_active=True, tag__kind__in=kinds
    ).values_list("product_id", "tag__kind", "tag__name")
    per_product: dict[int, dict[str, str]] = defaultdict(dict)
    for product_id, kind, name in links:
        per_product[product_id][kind] = name
    by_class: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for tags in per_product.values():
        fashion_class = catalog_to_fashion(
            tags.get(Tag.Kind.CATEGORY, ""),
            tags.get(Tag.Kind.SUB_CATEGORY, ""),
            tags.get(Tag.Kind.ARTICLE_TYPE, ""),
        )
        if fashion_class is not None:
            for kind, name in tags.items():
                by_class[fashion_class][kind].add(name)
    return {name: dict(kinds) for name, kinds in by_class.items()}
