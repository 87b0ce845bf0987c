"""The multi-label embedder: backbone -> pooled -> embedding (search vector) -> tag logits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

from recommender.models.backbones import GRID_SIZE, Backbone


@dataclass(frozen=True)
class EmbedderConfig:
    """Everything needed to rebuild the network's architecture (weights come separately)."""

    architecture: str = "efficientnet_lite0"
    feature_dim: int = 1280
    embedding_dim: int = 256
    num_tags: int = 0
    dropout: float = 0.2
    # Backbone stages whose pooled outputs join the last features (`Backbone.pool_stages`);
    # `feature_dim` counts them. Empty: the last features alone (checkpoints before this).
    pooled_stages: tuple[int, ...] = ()
    # Early stages averaged on a grid_size x grid_size grid, after the pooled ones (counted
    # in `feature_dim` too). Empty: none (checkpoints before this).
    grid_stages: tuple[int, ...] = ()
    grid_size: int = GRID_SIZE
    # Hidden layer (Linear + BN + ReLU) between the pooled features and the embedding;
    # 0: a single linear projection (checkpoints before this).
    hidden_dim: int = 0

    def __post_init__(self) -> None:
        for name in ("pooled_stages", "grid_stages"):
            object.__setattr__(self, name, tuple(int(s) for s in getattr(self, name)))

    @property
    def pooling(self) -> dict:
        """Keyword arguments of `Backbone.pool_stages` / `pooled_dim` for this head."""
        return {
            "stages": self.pooled_stages,
            "grid_stages": self.grid_stages,
            "grid_size": self.grid_size,
        }

    def to_dict(self) -> dict:
        return asdict(self)


class EmbeddingHead(nn.Module):
    """Pooled features (N, C) -> embedding (N, D) and tag logits (N, T).

    The embedding is the last layer before the logits: Linear then BatchNorm (a "BNNeck":
    the normalised vector suits both the cosine search and the linear tag classifier).
    With `hidden_dim`, the projection is Linear + BN + ReLU + Dropout + Linear.
    """

    def __init__(self, config: EmbedderConfig) -> None:
        super().__init__()
        self.dropout = nn.Dropout(config.dropout)
        self.projection: nn.Module = nn.Linear(config.feature_dim, config.embedding_dim)
        if config.hidden_dim:
            self.projection = nn.Sequential(
                nn.Linear(config.feature_dim, config.hidden_dim),
                nn.BatchNorm1d(config.hidden_dim),
                nn.ReLU(inplace=True),
                nn.Dropout(config.dropout),
                nn.Linear(config.hidden_dim, config.embedding_dim),
            )
        self.norm = nn.BatchNorm1d(config.embedding_dim)
        self.classifier = nn.Linear(config.embedding_dim, config.num_tags)

    def embed(self, pooled: torch.Tensor) -> torch.Tensor:
        projected = self.projection(self.dropout(pooled))  # (N, C) -> (N, D)
        return self.norm(projected)  # (N, D), not yet L2-normalised

    def forward(self, pooled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        embedding = self.embed(pooled)  # (N, D)
        return embedding, self.classifier(embedding)  # (N, D), (N, T)


class TagEmbedder(nn.Module):
    """Images (N, 3, S, S) -> embeddings (N, D); `forward_all` also gives tag logits (N, T)."""

    def __init__(self, backbone: Backbone, config: EmbedderConfig) -> None:
        super().__init__()
        pooled_dim = backbone.pooled_dim(**config.pooling)
        if pooled_dim != config.feature_dim:
            raise ValueError(
                f"backbone gives {pooled_dim} pooled features, config says {config.feature_dim}"
            )
        self.backbone = backbone
        self.head = EmbeddingHead(config)
        self.config = config
        self.dimension: int = config.embedding_dim

    def pooled(self, images: torch.Tensor) -> torch.Tensor:
        return self.backbone.pool_stages(images, **self.config.pooling)  # (N, C)

    def forward_all(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.head(self.pooled(images))  # (N, D), (N, T)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head.embed(self.pooled(images))  # (N, D)

    def tag_logits(self, images: torch.Tensor) -> torch.Tensor:
        return self.forward_all(images)[1]  # (N, T)


def set_trainable_blocks(model: TagEmbedder, trainable_blocks: int) -> None:
    """Freeze the backbone except its last `trainable_blocks` stages (-1: train all of it).

    The final conv + BN (conv_head/bn2) count with the last stage.
    """
    network = model.backbone.network
    for parameter in network.parameters():
        parameter.requires_grad = trainable_blocks < 0
    if trainable_blocks <= 0:
        return
    stages = list(network.blocks)[-trainable_blocks:]
    tail = [getattr(network, name) for name in ("conv_head", "bn2") if hasattr(network, name)]
    for module in [*stages, *tail]:
        for parameter in module.parameters():
            parameter.requires_grad = True


def masked_tag_loss(
    logits: torch.Tensor, targets: torch.Tensor, masks: torch.Tensor
) -> torch.Tensor:
    """Sigmoid cross-entropy over the tags each item has a label for, averaged per item."""
    losses = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")  # (N, T)
    per_item = (losses * masks).sum(dim=1)  # (N,)
    return per_item.mean()


def grouped_softmax_loss(
    logits: torch.Tensor, targets: torch.Tensor, masks: torch.Tensor, groups: Sequence[slice]
) -> torch.Tensor:
    """Softmax cross-entropy within each tag group an item has a label for, summed over its
    groups and averaged per item.

    A group's values exclude one another (one article type, one colour), and its decoded
    tag is the group's top value: this term trains that ranking directly, beside the
    sigmoid loss that keeps each tag's own probability. An item's target in a group is
    the group's one positive column; groups masked out for an item add nothing."""
    per_item = logits.new_zeros(len(logits), dtype=torch.float32)  # (N,)
    for columns in groups:
        rows = torch.nonzero(masks[:, columns.start] > 0).squeeze(1)  # (n,)
        if len(rows) == 0:
            continue
        labels = targets[rows, columns].argmax(dim=1)  # (n,)
        losses = F.cross_entropy(logits[rows, columns].float(), labels, reduction="none")
        per_item = per_item.index_add(0, rows, losses)
    return per_item.mean()


def pseudo_tag_targets(
    logits: torch.Tensor, groups: list[slice], *, min_probability: float = 0.5
) -> tuple[torch.Tensor, torch.Tensor]:
    """The tagset a view predicts, as hard targets: per group, its top value set to 1,
    and a mask keeping the groups whose top value is above `min_probability`.

    For a street crop whose product has no tags of its own: its shop photo's prediction is
    the target, so both views predict the same tagset. Hard targets, not probabilities:
    soft ones let the head drift toward uncertain predictions for both views (measured:
    val article type 0.89 -> 0.76 in 20 epochs); uncertain groups (a brand the shop photo
    does not show) are masked out rather than forced on the crop."""
    targets, masks = torch.zeros_like(logits), torch.zeros_like(logits)  # (N, T) each
    probabilities = torch.sigmoid(logits.detach())  # (N, T)
    for columns in groups:
        top = probabilities[:, columns].max(dim=1, keepdim=True)  # (N, 1) each
        targets[:, columns].scatter_(1, top.indices, 1.0)
        masks[:, columns] = (top.values > min_probability).float()  # (N, 1) -> (N, g)
    return targets, masks


def pair_contrastive_loss(
    queries: torch.Tensor,
    positives: torch.Tensor,
    extra_keys: torch.Tensor | None = None,
    *,
    temperature: float = 0.07,
) -> torch.Tensor:
    """InfoNCE: query i should be nearest to positive i among all positives (+ extra keys).

    `extra_keys` (e.g. catalog photos of the same batch) are distractors, as in the search
    gallery. Embeddings are L2-normalised here.
    """
    queries = F.normalize(queries, dim=1)  # (B, D)
    keys = F.normalize(positives, dim=1)  # (B, D)
    if extra_keys is not None and len(extra_keys):
        keys = torch.cat([keys, F.normalize(extra_keys, dim=1)])  # (B + E, D)
    logits = queries @ keys.T / temperature  # (B, B + E)
    labels = torch.arange(len(queries), device=queries.device)  # (B,)
    return F.cross_entropy(logits, labels)
