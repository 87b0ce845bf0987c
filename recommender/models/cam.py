"""Class activation maps: feature maps -> global average pooling -> one linear layer.

Because the head is linear after global average pooling, applying it at every position of
the feature map gives a map whose spatial mean (plus the bias) is exactly the image logit:
that map is the CAM (Zhou et al., 2016). No FC stack, so the identity stays exact.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def class_activation_maps(features: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Per-class activation maps, without the bias: (N, C, h, w), (K, C) -> (N, K, h, w)."""
    return torch.einsum("nchw,kc->nkhw", features, weights)  # (N, K, h, w)


class CamHead(nn.Module):
    """A linear layer over pooled features whose rows are grouped into fashion classes.

    A trained head has one row per class (`groups[k] == [k]`). The zero-shot head reuses the
    ImageNet classifier: a class's logit/CAM is the max over its ImageNet rows, and its
    probability is the summed softmax of those rows. A class with no rows never fires.
    """

    def __init__(
        self,
        in_features: int,
        class_names: Sequence[str],
        *,
        groups: Sequence[Sequence[int]] | None = None,
        num_rows: int | None = None,
        probability: str = "sigmoid",
    ) -> None:
        super().__init__()
        if probability not in {"sigmoid", "softmax_sum"}:
            raise ValueError(f"probability must be 'sigmoid' or 'softmax_sum', got {probability!r}")
        self.class_names = tuple(class_names)
        self.groups = [list(group) for group in (groups or [[k] for k in range(len(class_names))])]
        if len(self.groups) != len(self.class_names):
            raise ValueError("need one group of rows per class")
        self.linear = nn.Linear(in_features, num_rows or len(self.class_names))
        self.probability = probability

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def row_logits(self, pooled: torch.Tensor) -> torch.Tensor:
        """Logits of every row: (N, C) -> (N, R)."""
        return self.linear(pooled)  # (N, R)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        """Class logits from pooled features: (N, C) -> (N, K)."""
        return self._group_max(self.row_logits(pooled))  # (N, K)

    def probabilities(self, pooled: torch.Tensor) -> torch.Tensor:
        """Image-level presence probability of each class: (N, C) -> (N, K)."""
        rows = self.row_logits(pooled)  # (N, R)
        if self.probability == "sigmoid":
            return torch.sigmoid(self._group_max(rows))  # (N, K)
        softmax = rows.softmax(dim=1)  # (N, R)
        columns = [
            softmax[:, group].sum(dim=1) if group else softmax[:, 0] * 0 for group in self.groups
        ]
        return torch.stack(columns, dim=1)  # (N, K)

    def cams(self, features: torch.Tensor) -> torch.Tensor:
        """Class activation maps (no bias): (N, C, h, w) -> (N, K, h, w)."""
        rows = [row for group in self.groups for row in group]
        row_maps = class_activation_maps(features, self.linear.weight[rows])  # (N, R', h, w)
        maps, start = [], 0
        for group in self.groups:
            if group:
                maps.append(row_maps[:, start : start + len(group)].amax(dim=1))  # (N, h, w)
            else:
                maps.append(torch.zeros_like(features[:, 0]))  # (N, h, w)
            start += len(group)
        return torch.stack(maps, dim=1)  # (N, K, h, w)

    def _group_max(self, rows: torch.Tensor) -> torch.Tensor:
        columns = [
            rows[:, group].amax(dim=1) if group else torch.full_like(rows[:, 0], -1e4)
            for group in self.groups
        ]
        return torch.stack(columns, dim=1)  # (N, K)


def zero_shot_head(
    classifier: nn.Linear, class_names: Sequence[str], groups: Sequence[Sequence[int]]
) -> CamHead:
    """A head that reads fashion classes off an ImageNet classifier (copied, not shared)."""
    head = CamHead(
        classifier.in_features,
        class_names,
        groups=groups,
        num_rows=classifier.out_features,
        probability="softmax_sum",
    )
    head.linear.load_state_dict(classifier.state_dict())
    return head.eval()
