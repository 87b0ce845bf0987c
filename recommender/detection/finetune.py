"""Full training mode: fine-tune the backbone's last blocks on image-level labels.

Catalog photos (one class each) and street train photos (all tagged classes), BCE on the
GAP-linear head, so the fine-tuned maps stay class activation maps. On CUDA: AMP,
channels_last and DataLoader workers. Each epoch is saved; a rerun resumes after the last.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from recommender.data.street import read_street_photos
from recommender.detection.training_data import read_catalog_photos
from recommender.fashion_classes import FASHION_CLASSES
from recommender.images import load_image
from recommender.models.backbones import Backbone
from recommender.models.cam import CamHead
from recommender.models.transforms import EvalTransform

logger = logging.getLogger(__name__)

TRAIN_SIZE = 320


class LabelledPhotos(Dataset):
    """(path, multi-hot labels) -> (3, S, S) tensor, (K,) labels, with a random flip."""

    def __init__(self, items: list[tuple[Path, frozenset[str]]], backbone: Backbone) -> None:
        self.items = items
        weights = backbone.weights
        self.transform = EvalTransform(
            input_size=TRAIN_SIZE,
            mean=weights.mean,
            std=weights.std,
            interpolation=weights.interpolation,
        )

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        path, classes = self.items[index]
        image = self.transform(load_image(path))  # (3, S, S)
        if torch.rand(()) < 0.5:
            image = image.flip(-1)
        labels = torch.tensor([float(name in classes) for name in FASHION_CLASSES])  # (K,)
        return image, labels


def trainable_modules(backbone: Backbone, last_blocks: int = 2) -> list[torch.nn.Module]:
    """The last `last_blocks` stages and the final conv + BN; the rest stays frozen."""
    network = backbone.network
    return [*network.blocks[-last_blocks:], network.conv_head, network.bn2]


def trainable_parameters(backbone: Backbone) -> list[torch.nn.Parameter]:
    """Freeze the backbone except `trainable_modules`; returns their parameters."""
    for parameter in backbone.network.parameters():
        parameter.requires_grad_(False)
    modules = trainable_modules(backbone)
    parameters = [p for module in modules for p in module.parameters()]
    for parameter in parameters:
        parameter.requires_grad_(True)
    return parameters


def finetune_backbone(
    backbone: Backbone,
    data_dir: Path,
    out_dir: Path,
    *,
    epochs: int,
    seed: int,
    batch_size: int = 32,
    limit: int | None = None,
) -> Backbone:
    """Fine-tune in place and return the backbone (eval mode); resumes from epoch files."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    catalog = read_catalog_photos(data_dir / "catalog", per_class=1000, seed=seed)
    street = read_street_photos(data_dir / "street", split="train")
    items = [(p.path, frozenset({p.class_name})) for p in catalog]
    items += [(p.path, p.classes) for p in street] * 3  # in-domain photos weigh more
    items = items[:limit] if limit else items
    loader = DataLoader(
        LabelledPhotos(items, backbone),
        batch_size=batch_size,
        shuffle=True,
        num_workers=8 if device.type == "cuda" else 0,
        generator=torch.Generator().manual_seed(seed),
        pin_memory=device.type == "cuda",
    )
    head = CamHead(backbone.feature_dim, FASHION_CLASSES).to(device)
    backbone.to(device, memory_format=torch.channels_last)
    parameters = trainable_parameters(backbone) + list(head.parameters())
    optimiser = torch.optim.AdamW(parameters, lr=1e-3, weight_decay=1e-4)
    scaler = torch.amp.GradScaler(enabled=device.type == "cuda")
    start_epoch = _resume(out_dir, backbone, head, optimiser)
    for epoch in range(start_epoch, epochs):
        backbone.eval()  # frozen BN layers keep their ImageNet statistics
        for module in trainable_modules(backbone):
            module.train()
        for images, labels in tqdm(loader, desc=f"fine-tune epoch {epoch + 1}/{epochs}"):
            images = images.to(device, non_blocking=True).contiguous(
                memory_format=torch.channels_last
            )
            labels = labels.to(device, non_blocking=True)  # (B, K)
            with torch.autocast(device.type, enabled=device.type == "cuda"):
                logits = head(backbone.pool(backbone.forward_features(images)))  # (B, K)
                loss = F.binary_cross_entropy_with_logits(logits.float(), labels)
            optimiser.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimiser)
            scaler.update()
        _save_epoch(out_dir, epoch, backbone, head, optimiser)
    return backbone.cpu().eval()


def _save_epoch(out_dir: Path, epoch: int, backbone: Backbone, head: CamHead, optimiser) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    state = {
        "epoch": epoch,
        "backbone": backbone.network.state_dict(),
        "head": head.state_dict(),
        "optimiser": optimiser.state_dict(),
    }
    torch.save(state, out_dir / f"finetune_epoch_{epoch:03d}.pt")


def _resume(out_dir: Path, backbone: Backbone, head: CamHead, optimiser) -> int:
    saved = sorted(out_dir.glob("finetune_epoch_*.pt"))
    if not saved:
        return 0
    state = torch.load(saved[-1], map_location="cpu", weights_only=True)
    backbone.network.load_state_dict(state["backbone"])
    head.load_state_dict(state["head"])
    optimiser.load_state_dict(state["optimiser"])
    logger.info("resuming fine-tuning after %s", saved[-1].name)
    return int(state["epoch"]) + 1
