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


# "int8": a trained detector's 8-bit OpenVINO graph (`recommender.quantize`), CPU only.
PRECISIONS = ("auto", "float32", "bfloat16", "int8")


def native_bfloat16(device: torch.device) -> bool:
    """Whether the device computes bfloat16 convolutions natively (CUDA with bf16 support,
    or a CPU with AVX-512 BF16 / AMX that oneDNN uses); elsewhere bf16 is emulated, slower."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:  # a private operator of PyTorch's oneDNN bindings: absent means "do not know"
        supported = torch.ops.mkldnn._is_mkldnn_bf16_supported()
    except (AttributeError, RuntimeError):
        return False
    return bool(torch.backends.mkldnn.is_available() and supported)


def resolve_precision(requested: str, device: torch.device) -> torch.dtype:
    """The compute dtype of inference: "float32", "bfloat16", "int8" (torch.int8: an 8-bit
    OpenVINO graph, on the CPU only) or "auto" (bfloat16 where the device computes it
    natively, else float32; the detector picks int8 where it has an 8-bit graph)."""
    if requested not in PRECISIONS:
        raise ValueError(f"unsupported precision {requested!r}: use one of {', '.join(PRECISIONS)}")
    if requested == "int8":
        if device.type != "cpu":
            raise ValueError(f"int8 runs an OpenVINO graph on the CPU, not on {device}")
        return torch.int8
    if requested == "auto":
        return torch.bfloat16 if native_bfloat16(device) else torch.float32
    if requested == "bfloat16" and not native_bfloat16(device):
        logger.warning("bfloat16 on %s is emulated: expect it to be slower than float32", device)
    return torch.bfloat16 if requested == "bfloat16" else torch.float32
