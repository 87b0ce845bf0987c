"""Choosing the torch device a model runs on."""

from __future__ import annotations

import logging

import torch

logger = logging.getLogger(__name__)


def resolve_device(requested: str | torch.device = "cpu") -> torch.device:
    """The requested device, or the CPU (with a warning) when CUDA is asked for but absent."""
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        logger.warning("device %s requested but CUDA is not available; using the CPU", device)
        return torch.device("cpu")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"unsupported device {requested!r}: use 'cpu' or 'cuda[:index]'")
    return device
