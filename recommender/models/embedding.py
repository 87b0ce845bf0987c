"""Embedding networks: images -> one vector per image, on top of a backbone."""

from __future__ import annotations

import torch
from torch import nn

from recommender.models.backbones import Backbone


class PooledFeatures(nn.Module):
    """The baseline embedding: the backbone's globally pooled last feature maps.

    A trained model replaces this with a projection head on the same backbone; anything
    mapping (N, 3, S, S) images to (N, D) vectors and exposing `dimension` fits `ImageEmbedder`.
    """

    def __init__(self, backbone: Backbone) -> None:
        super().__init__()
        self.backbone = backbone
        self.dimension: int = backbone.feature_dim

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.backbone.forward_features(images)  # (N, C, h, w)
        return self.backbone.pool(features)  # (N, C)
