"""The seed design's own network: VGG16-style conv blocks, global average pooling, one linear.

Five blocks of 3x3 convolutions (2, 2, 3, 3, 3 of them, as in VGG16), each followed by 2x2
max pooling, then global average pooling straight into the classifier: no fully connected
stack, so the classifier's rows weigh the last feature maps and give class activation maps.
Each conv is followed by BatchNorm and ReLU, which lets the network train from scratch
(VGG16 itself was trained in stages without it).

The module is laid out like timm's EfficientNets (`conv_stem`, `bn1`, `blocks`, `conv_head`,
`bn2`, `num_features`, `get_classifier`, `forward_features`), so `Backbone` and everything
built on it (CAM detection, stage pooling, BN folding, the full-mode tail) treat both alike:
the stem is the first conv, each block is a stage, and the head conv is an identity.

`output_stride` 16 or 8 drops the last one or two poolings (the CAM paper's VGG keeps 14x14
maps at 224 px this way); the weights are the same, the maps finer.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from timm.layers import BatchNormAct2d
from torch import nn

VGG16_DEPTHS = (2, 2, 3, 3, 3)  # 3x3 convs per block
VGG16_WIDTHS = (64, 128, 256, 512, 512)


def _conv(in_channels: int, out_channels: int) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False)


def _norm_act(channels: int) -> BatchNormAct2d:
    return BatchNormAct2d(channels, act_layer=nn.ReLU)


class SeedVGG(nn.Module):
    """VGG16-style blocks -> GAP -> linear, trainable from scratch (see the module doc)."""

    def __init__(
        self,
        widths: Sequence[int] = VGG16_WIDTHS,
        depths: Sequence[int] = VGG16_DEPTHS,
        *,
        num_classes: int = 1000,
        output_stride: int = 32,
    ) -> None:
        super().__init__()
        if len(widths) != len(depths) or not widths:
            raise ValueError(f"one width per block: widths {widths}, depths {depths}")
        if min(depths) < 1 or min(widths) < 1:
            raise ValueError(f"blocks need at least one conv and channel: {widths}, {depths}")
        poolings = len(widths) - {32: 0, 16: 1, 8: 2}.get(output_stride, -1)
        if poolings > len(widths) or 2**poolings != output_stride:
            raise ValueError(f"output_stride {output_stride}: choose 8, 16 or 32")
        self.conv_stem = _conv(3, widths[0])
        self.bn1 = _norm_act(widths[0])
        blocks = []
        channels = widths[0]
        for index, (width, depth) in enumerate(zip(widths, depths, strict=True)):
            layers: list[nn.Module] = []
            for position in range(depth - 1 if index == 0 else depth):  # the stem is conv 1
                layers += [_conv(channels if position == 0 else width, width), _norm_act(width)]
            channels = width
            if index < poolings:
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=True))
            blocks.append(nn.Sequential(*layers))
        self.blocks = nn.Sequential(*blocks)
        self.conv_head = nn.Identity()
        self.bn2 = nn.Identity()
        self.num_features = widths[-1]
        self.classifier = nn.Linear(self.num_features, num_classes)
        self._initialise()

    def _initialise(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, std=0.01)
                nn.init.zeros_(module.bias)

    def get_classifier(self) -> nn.Linear:
        return self.classifier

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> last feature maps (N, C, H/s, W/s), after BN + ReLU."""
        features = self.bn1(self.conv_stem(images))  # (N, c0, H, W)
        features = self.blocks(features)  # (N, C, H/s, W/s)
        return self.bn2(self.conv_head(features))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits (N, num_classes): the last feature maps averaged, then the linear layer."""
        return self.classifier(self.forward_features(images).mean(dim=(2, 3)))
