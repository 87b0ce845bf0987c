"""Fold eval-mode BatchNorm into the convolution before it, for faster inference.

In eval mode a BatchNorm is a fixed per-channel affine map, y = (x - mean) / sqrt(var + eps)
* gamma + beta, so it can be folded into the preceding convolution's weight and bias:
w' = w * s, b' = (b - mean) * s + beta with s = gamma / sqrt(var + eps). The fused network
computes the same function with one pass over each feature map instead of two.

timm's tf_efficientnet_lite0 uses `Conv2d` and `Conv2dSame` (a `Conv2d` subclass that pads
TF-'same' in forward from the same weight/bias) followed by `BatchNormAct2d` (BN + drop +
activation); the BN part is folded and the activation kept. Pairs are found as adjacent
children (conv registered directly before its BN), which is how timm's blocks are written;
the tests check the fused output against the original.
"""

from __future__ import annotations

import copy
import logging

import torch
from timm.layers import BatchNormAct2d
from torch import nn

logger = logging.getLogger(__name__)


class FoldedBatchNormAct(nn.Module):
    """What is left of a timm `BatchNormAct2d` once its BN is folded: drop, then activation."""

    def __init__(self, norm_act: BatchNormAct2d) -> None:
        super().__init__()
        self.drop = norm_act.drop
        self.act = norm_act.act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.drop(x))


def fuse_batchnorm(module: nn.Module) -> nn.Module:
    """A copy of an eval-mode `module` with each conv -> BatchNorm pair folded into the conv.

    The input is left untouched. Raises `ValueError` for a module (or part) in training
    mode: there BN normalises with batch statistics, which cannot be folded. The copy is for
    inference only; do not train it (its BN layers are gone).
    """
    training = [name or "<root>" for name, part in module.named_modules() if part.training]
    if training:
        raise ValueError(
            f"fuse_batchnorm needs an eval-mode module; in training mode: {training[:3]}"
        )
    fused = copy.deepcopy(module)
    count = _fuse_children(fused)
    logger.debug("folded %d batch norms", count)
    return fused


def _fuse_children(parent: nn.Module) -> int:
    count = 0
    names = list(parent._modules)
    for position, name in enumerate(names):
        child = parent._modules[name]
        next_name = names[position + 1] if position + 1 < len(names) else None
        following = parent._modules[next_name] if next_name is not None else None
        if child is None:
            continue
        if _is_foldable(child, following):
            _fold_into_conv(child, following)
            parent._modules[next_name] = _remainder(following)
            count += 1
        else:
            count += _fuse_children(child)
    return count


def _is_foldable(conv: nn.Module, norm: nn.Module | None) -> bool:
    return (
        isinstance(conv, nn.Conv2d)
        and isinstance(norm, nn.BatchNorm2d)  # BatchNormAct2d is a BatchNorm2d subclass
        and norm.track_running_stats
        and norm.running_mean is not None
        and norm.num_features == conv.out_channels
    )


@torch.no_grad()
def _fold_into_conv(conv: nn.Conv2d, norm: nn.BatchNorm2d) -> None:
    # float64 so the fold adds no rounding beyond the final cast
    variance = norm.running_var.double()  # (C,)
    scale = torch.rsqrt(variance + norm.eps)  # (C,)
    if norm.affine:
        scale = scale * norm.weight.double()
    shift = norm.bias.double() if norm.affine else torch.zeros_like(scale)  # (C,)
    bias = conv.bias.double() if conv.bias is not None else torch.zeros_like(scale)  # (C,)
    weight = conv.weight.double() * scale.view(-1, 1, 1, 1)  # (C, C_in/groups, kh, kw)
    conv.weight.copy_(weight.to(conv.weight.dtype))
    new_bias = ((bias - norm.running_mean.double()) * scale + shift).to(conv.weight.dtype)
    conv.bias = nn.Parameter(new_bias, requires_grad=False)


def _remainder(norm: nn.BatchNorm2d) -> nn.Module:
    if isinstance(norm, BatchNormAct2d):
        return FoldedBatchNormAct(norm)
    return nn.Identity()
