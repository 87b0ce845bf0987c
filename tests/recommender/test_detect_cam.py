from __future__ import annotations

import torch
from torch import nn

from recommender.models.cam import CamHead, class_activation_maps, zero_shot_head


def test_class_activation_maps_have_one_map_per_class() -> None:
    maps = class_activation_maps(torch.randn(2, 8, 5, 7), torch.randn(3, 8))

    assert maps.shape == (2, 3, 5, 7)


def test_cam_spatial_mean_plus_bias_equals_logits() -> None:
    torch.manual_seed(0)
    head = CamHead(8, ("a", "b", "c"))
    features = torch.randn(2, 8, 5, 7)  # (N, C, h, w)

    logits = head(features.mean(dim=(2, 3)))  # (N, K)
    averaged = head.cams(features).mean(dim=(2, 3)) + head.linear.bias  # (N, K)

    torch.testing.assert_close(averaged, logits)


def test_zero_shot_head_takes_max_over_grouped_rows_and_sums_their_softmax() -> None:
    torch.manual_seed(0)
    classifier = nn.Linear(8, 6)
    head = zero_shot_head(classifier, ("x", "y", "empty"), [[0, 2], [5], []])
    features = torch.randn(1, 8, 3, 4)
    pooled = features.mean(dim=(2, 3))

    row_maps = class_activation_maps(features, classifier.weight)  # (1, 6, 3, 4)
    cams = head.cams(features)
    probabilities = head.probabilities(pooled)
    softmax = classifier(pooled).softmax(dim=1)

    torch.testing.assert_close(cams[:, 0], row_maps[:, [0, 2]].amax(dim=1))
    assert torch.all(cams[:, 2] == 0)
    torch.testing.assert_close(probabilities[0, 0], softmax[0, 0] + softmax[0, 2])
    assert probabilities[0, 2] == 0
