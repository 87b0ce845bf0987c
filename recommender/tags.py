"""Tag vocabulary: catalog columns -> tag groups -> multi-hot targets, and logits -> tagsets.

A tag group (article type, colour, gender, ...) comes from one catalog column. Each item has
at most one value per group. Values seen fewer than `min_count` times when the vocabulary is
built are folded into the group's `OTHER` value (or dropped: the item then has no target in
that group), so the network never has to learn a class from one or two photos. An empty
cell means "unknown" (e.g. `brand_guess` could not be read off the product name): the item
has no target in that group and the group is masked out of its loss.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from recommender.devices import resolve_device

logger = logging.getLogger(__name__)

OTHER = "<other>"
DEFAULT_MIN_COUNT = 5
# catalog column -> tag group name; brand_guess is a heuristic (some wrong, some empty).
DEFAULT_COLUMN_GROUPS: dict[str, str] = {
    "masterCategory": "masterCategory",
    "subCategory": "subCategory",
    "articleType": "articleType",
    "baseColour": "baseColour",
    "gender": "gender",
    "usage": "usage",
    "brand_guess": "brand",
}

Tagset = dict[str, tuple[str, float]]


@dataclass(frozen=True)
class TagGroup:
    """One group of mutually exclusive tag values read from one catalog column."""

    name: str
    column: str
    values: tuple[str, ...]
    counts: tuple[int, ...]

    @functools.cached_property
    def _lookup(self) -> dict[str, int]:
        return {tag: index for index, tag in enumerate(self.values)}

    def index_of(self, value: str) -> int | None:
        """Column index inside the group for a raw cell value (OTHER when folded)."""
        lookup = self._lookup
        if value in lookup:
            return lookup[value]
        return lookup.get(OTHER)


@dataclass(frozen=True)
class TagVocabulary:
    """Ordered tag groups; the logits vector is the groups' values laid end to end."""

    groups: tuple[TagGroup, ...]
    min_count: int
    rare: str

    @property
    def size(self) -> int:
        return sum(len(group.values) for group in self.groups)

    @property
    def group_names(self) -> tuple[str, ...]:
        return tuple(group.name for group in self.groups)

    def slices(self) -> dict[str, slice]:
        """Group name -> its columns in the target/logit vector."""
        result: dict[str, slice] = {}
        start = 0
        for group in self.groups:
            result[group.name] = slice(start, start + len(group.values))
            start += len(group.values)
        return result

    def group(self, name: str) -> TagGroup:
        for group in self.groups:
            if group.name == name:
                return group
        raise KeyError(f"no tag group {name!r}; groups: {', '.join(self.group_names)}")

    def encode(self, row: Mapping[str, str]) -> tuple[np.ndarray, np.ndarray]:
        """A catalog row -> (multi-hot target (T,), per-column mask (T,)), both float32.

        The mask is 0 over a group whose value is empty or was dropped as rare.
        """
        target = np.zeros(self.size, dtype=np.float32)
        mask = np.zeros(self.size, dtype=np.float32)
        for group, columns in zip(self.groups, self.slices().values(), strict=True):
            value = str(row.get(group.column, "")).strip()
            index = group.index_of(value) if value else None
            if index is None:
                continue
            mask[columns] = 1.0
            target[columns.start + index] = 1.0
        return target, mask

    def encode_rows(self, rows: Iterable[Mapping[str, str]]) -> tuple[np.ndarray, np.ndarray]:
        """Many rows -> targets (N, T) and masks (N, T)."""
        pairs = [self.encode(row) for row in rows]
        if not pairs:
            return np.zeros((0, self.size), np.float32), np.zeros((0, self.size), np.float32)
        targets, masks = zip(*pairs, strict=True)
        return np.stack(targets), np.stack(masks)

    def decode(
        self,
        probabilities: np.ndarray,
        allowed: Sequence[Mapping[str, Collection[str]] | None] | None = None,
    ) -> list[Tagset]:
        """Per-tag probabilities (N, T) -> per item, each group's top value and probability.

        ``allowed[i]`` (group -> values) limits item i's choice in those groups, e.g. to the
        article types of the class the detector saw; a group none of whose allowed values
        is in the vocabulary is left free.
        """
        probabilities = np.asarray(probabilities)
        if probabilities.ndim != 2 or probabilities.shape[1] != self.size:
            raise ValueError(f"expected (N, {self.size}) probabilities, got {probabilities.shape}")
        allowed = allowed if allowed is not None else [None] * len(probabilities)
        if len(allowed) != len(probabilities):
            raise ValueError(f"{len(allowed)} constraints for {len(probabilities)} items")
        tagsets: list[Tagset] = [{} for _ in range(len(probabilities))]
        for group, columns in zip(self.groups, self.slices().values(), strict=True):
            block = probabilities[:, columns]  # (N, values in group)
            for item, constraint in enumerate(allowed):
                scores = block[item]  # (values in group,)
                values = constraint.get(group.name) if constraint else None
                if values:
                    mask = np.array([value in values for value in group.values])
                    if mask.any():
                        scores = np.where(mask, scores, -1.0)
                index = int(scores.argmax())
                tagsets[item][group.name] = (group.values[index], float(block[item, index]))
        return tagsets

    def to_dict(self) -> dict:
        return {
            "min_count": self.min_count,
            "rare": self.rare,
            "groups": [
                {
                    "name": group.name,
                    "column": group.column,
                    "values": list(group.values),
                    "counts": list(group.counts),
                }
                for group in self.groups
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> TagVocabulary:
        groups = tuple(
            TagGroup(
                name=group["name"],
                column=group["column"],
                values=tuple(group["values"]),
                counts=tuple(int(count) for count in group["counts"]),
            )
            for group in data["groups"]
        )
        return cls(groups=groups, min_count=int(data["min_count"]), rare=data["rare"])

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TagVocabulary:
        return cls.from_dict(json.loads(text))

    def save(self, path: Path | str) -> None:
        Path(path).write_text(self.to_json(), encoding="utf-8")

    @classmethod
    def load(cls, path: Path | str) -> TagVocabulary:
        return cls.from_json(Path(path).read_text(encoding="utf-8"))

    def fingerprint(self) -> str:
        """Short hash of the groups and their value order: equal iff logits mean the same."""
        layout = [[group.name, group.column, list(group.values)] for group in self.groups]
        return hashlib.sha256(json.dumps(layout).encode()).hexdigest()[:16]


def build_vocabulary(
    rows: Sequence[Mapping[str, str]],
    *,
    column_groups: Mapping[str, str] | None = None,
    min_count: int = DEFAULT_MIN_COUNT,
    rare: str = "fold",
) -> TagVocabulary:
    """Count each column's values over `rows` (the training split) and build the groups.

    `rare="fold"` maps values seen fewer than `min_count` times to `OTHER`; `rare="drop"`
    leaves them without a target. Values are ordered by count, most frequent first.
    """
    if rare not in ("fold", "drop"):
        raise ValueError(f"rare must be 'fold' or 'drop', got {rare!r}")
    mapping = dict(column_groups or DEFAULT_COLUMN_GROUPS)
    groups = tuple(
        _build_group(rows, column, name, min_count=min_count, rare=rare)
        for column, name in mapping.items()
    )
    vocabulary = TagVocabulary(groups=groups, min_count=min_count, rare=rare)
    logger.info("tag vocabulary: %d tags in %d groups", vocabulary.size, len(groups))
    return vocabulary


def _build_group(
    rows: Sequence[Mapping[str, str]], column: str, name: str, *, min_count: int, rare: str
) -> TagGroup:
    counts = Counter(str(row[column]).strip() for row in rows if str(row[column]).strip())
    kept = [(value, count) for value, count in counts.most_common() if count >= min_count]
    rare_total = sum(count for count in counts.values() if count < min_count)
    if rare == "fold" and rare_total:
        kept.append((OTHER, rare_total))
    if not kept:
        raise ValueError(f"column {column!r} has no value seen at least {min_count} times")
    dropped = len(counts) - len([value for value, _ in kept if value != OTHER])
    logger.info("group %s: %d values kept, %d rare %s", name, len(kept), dropped, rare)
    values, kept_counts = zip(*kept, strict=True)
    return TagGroup(name=name, column=column, values=tuple(values), counts=tuple(kept_counts))


class TagPredictor:
    """Images -> tagsets with a network that has `tag_logits((N, 3, S, S)) -> (N, T)`."""

    def __init__(
        self,
        network: torch.nn.Module,
        transform: Callable[[Image.Image], torch.Tensor],
        vocabulary: TagVocabulary,
        *,
        device: str | torch.device = "cpu",
        batch_size: int = 32,
    ) -> None:
        self.device = resolve_device(device)
        self.network = network.eval().to(self.device)
        self.transform = transform
        self.vocabulary = vocabulary
        self.batch_size = batch_size

    @torch.inference_mode()
    def probabilities(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Per-tag sigmoid probabilities, float32 (N, T)."""
        batches = [np.zeros((0, self.vocabulary.size), dtype=np.float32)]
        for start in range(0, len(images), self.batch_size):
            chunk = images[start : start + self.batch_size]
            batch = torch.stack([self.transform(image) for image in chunk])  # (B, 3, S, S)
            logits = self.network.tag_logits(batch.to(self.device))  # (B, T)
            batches.append(torch.sigmoid(logits.float()).cpu().numpy())
        return np.concatenate(batches)

    def predict_tags(self, images: Sequence[Image.Image]) -> list[Tagset]:
        """Per image, each group's most probable value and its probability."""
        return self.vocabulary.decode(self.probabilities(images))
