"""Reads of tags by their label: ``kind:name`` as clients write them."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Q

from shop.models import Tag


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
