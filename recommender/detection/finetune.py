"""Full training mode: fine-tune the backbone's last stage on image-level labels.

Only the tail of the network learns: the last `tail_stages` stages of `network.blocks` and
the final conv + BN. The frozen stages before them (the trunk) give the same output in every
epoch, so it is computed once per photo and cached on disk (float16; keyed by the weights,
the split point, the preprocessing and the photo's md5). Each epoch then runs only the tail
and the GAP-linear head, with the weighted, masked BCE of the quick head, so the fine-tuned
maps stay class activation maps. Catalog photos enter as the weights' square input, street
photos as the detector sees a whole photo, so the tail learns at the scales it is used at.
A horizontal flip of the trunk output augments. BN layers keep their ImageNet statistics
(a batch mixes product shots and street photos). Each epoch is saved; a rerun resumes.

On 2 CPU cores the trunk pass over ~8k photos takes a few minutes once and an epoch of the
tail about a minute, where a full forward + backward per step would take hours.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm import tqdm

from recommender.detection.detector import FashionDetector
from recommender.detection.features import image_md5
from recommender.fashion_classes import FASHION_CLASSES
from recommender.images import load_image
from recommender.models.backbones import Backbone
from recommender.models.cam import CamHead
from recommender.models.fuse import fuse_batchnorm

logger = logging.getLogger(__name__)


def tail_modules(network: nn.Module, tail_stages: int) -> list[nn.Module]:
    """The last `tail_stages` stages and the final conv + BN: what the full mode trains."""
    if not 1 <= tail_stages <= len(network.blocks):
        raise ValueError(f"tail_stages must be 1 to {len(network.blocks)}, got {tail_stages}")
    return [*network.blocks[-tail_stages:], network.conv_head, network.bn2]


def trunk_forward(network: nn.Module, images: torch.Tensor, tail_stages: int) -> torch.Tensor:
    """The frozen part: stem and every stage before the tail. (N, 3, H, W) -> (N, c, h, w)."""
    features = network.bn1(network.conv_stem(images))  # (N, c0, H/2, W/2)
    for stage in network.blocks[:-tail_stages]:
        features = stage(features)
    return features


def tail_forward(network: nn.Module, trunk: torch.Tensor, tail_stages: int) -> torch.Tensor:
    """The trained part: trunk output -> last feature maps (as `forward_features`)."""
    features = trunk
    for stage in network.blocks[-tail_stages:]:
        features = stage(features)
    return network.bn2(network.conv_head(features))  # (N, C, h, w)


class TrunkCache:
    """Trunk outputs of photos, one float16 .npy per photo md5 under a keyed folder."""

    def __init__(self, folder: Path, backbone: Backbone, tail_stages: int) -> None:
        if backbone.weights is None:
            raise ValueError("the trunk cache needs a backbone with registry weights")
        self.folder = Path(folder)
        self.backbone = backbone
        self.tail_stages = tail_stages
        self._fused: nn.Module | None = None

    def catalog(self, paths: Sequence[Path], *, batch_size: int = 32) -> list[np.ndarray]:
        """Trunk outputs (c, h, w) of product photos squashed to the weights' input size."""
        transform = self.backbone.weights.transforms()
        return self._cached(
            paths,
            f"square{transform.input_size}",
            lambda images: transform.batch(images),
            batch_size=batch_size,
        )

    def photos(self, paths: Sequence[Path], detector: FashionDetector) -> list[np.ndarray]:
        """Trunk outputs (c, h, w) of whole photos, preprocessed as the detector does."""
        return self._cached(
            paths,
            f"photo{detector.config.short_side}",
            lambda images: detector.preprocess(images[0]),
            batch_size=1,
        )

    @torch.inference_mode()
    def _cached(self, paths, preprocessing: str, to_batch, *, batch_size: int) -> list[np.ndarray]:
        key = self.backbone.feature_key
        folder = self.folder / f"{key}-tail{self.tail_stages}-{preprocessing}"
        folder.mkdir(parents=True, exist_ok=True)
        files = [folder / f"{image_md5(path)}.npy" for path in paths]
        missing = [index for index, file in enumerate(files) if not file.is_file()]
        if missing and self._fused is None:
            # BN folded into the convs: the same trunk output (to float error), faster.
            self._fused = fuse_batchnorm(self.backbone).network.eval()
        for start in tqdm(
            range(0, len(missing), batch_size), desc=f"trunk {preprocessing}", disable=not missing
        ):
            chunk = missing[start : start + batch_size]
            batch = to_batch([load_image(paths[index]) for index in chunk])  # (B, 3, H, W)
            batch = batch.contiguous(memory_format=torch.channels_last)
            trunk = trunk_forward(self._fused, batch, self.tail_stages)  # (B, c, h, w)
            for index, array in zip(chunk, trunk.float().numpy(), strict=True):
                temporary = files[index].with_suffix(".tmp.npy")
                np.save(temporary, array.astype(np.float16))
                temporary.replace(files[index])  # an interrupted pass keeps what it wrote
        return [np.load(file) for file in files]


@dataclass(frozen=True)
class TailExample:
    """One training photo: its trunk output (c, h, w), labels (K,) and loss weights (K,)."""

    trunk: np.ndarray
    labels: torch.Tensor
    weights: torch.Tensor


def shape_batches(
    shapes: Sequence[tuple[int, ...]], batch_size: int, generator: torch.Generator
) -> list[list[int]]:
    """Shuffled batches of indices whose trunk outputs share a shape (photos differ)."""
    by_shape: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for index, shape in enumerate(shapes):
        by_shape[shape].append(index)
    batches = []
    for members in by_shape.values():
        order = torch.randperm(len(members), generator=generator).tolist()
        shuffled = [members[position] for position in order]
        batches += [shuffled[k : k + batch_size] for k in range(0, len(shuffled), batch_size)]
    order = torch.randperm(len(batches), generator=generator).tolist()
    return [batches[position] for position in order]


def finetune_tail(
    backbone: Backbone,
    examples: Sequence[TailExample],
    out_dir: Path,
    *,
    epochs: int,
    seed: int,
    tail_stages: int = 1,
    learning_rate: float = 3e-3,
    batch_size: int = 64,
    progress: bool = True,
) -> CamHead:
    """Train the tail (at a tenth of the head's rate) and a CAM head, in place; returns the
    head. Epoch files in `out_dir` make a rerun resume after the last finished epoch."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    network = backbone.network
    for parameter in network.parameters():
        parameter.requires_grad_(False)
    tail = tail_modules(network, tail_stages)
    tail_parameters = [p for module in tail for p in module.parameters()]
    for parameter in tail_parameters:
        parameter.requires_grad_(True)
    with torch.random.fork_rng(devices=[]):  # the head's initial weights follow `seed`
        torch.manual_seed(seed)
        head = CamHead(backbone.feature_dim, FASHION_CLASSES)
    network.to(device)
    head.to(device)
    optimiser = torch.optim.AdamW(
        [
            {"params": list(head.parameters()), "lr": learning_rate},
            {"params": tail_parameters, "lr": learning_rate / 10},
        ],
        weight_decay=1e-4,
    )
    start_epoch = resume_epoch(out_dir, backbone, head, optimiser)
    shapes = [example.trunk.shape for example in examples]
    generator = torch.Generator().manual_seed(seed)
    for _ in range(start_epoch):  # the same shuffles as an uninterrupted run
        torch.rand(len(shape_batches(shapes, batch_size, generator)), generator=generator)
    steps_per_epoch = len(shape_batches(shapes, batch_size, torch.Generator().manual_seed(seed)))
    # Batches hold one kind of photo (one shape), so the loss is normalised by the mean
    # weight of all examples, not the batch's own: a photo weighs the same in any batch.
    mean_weight = float(torch.stack([example.weights for example in examples]).sum(dim=1).mean())
    for epoch in range(start_epoch, epochs):
        network.eval()  # BN layers keep their ImageNet statistics, trunk and tail alike
        head.train()
        batches = shape_batches(shapes, batch_size, generator)
        flips = torch.rand(len(batches), generator=generator) < 0.5
        total = 0.0
        for step, rows in enumerate(
            tqdm(batches, desc=f"tail epoch {epoch + 1}/{epochs}", disable=not progress)
        ):
            set_learning_rate(optimiser, (epoch * steps_per_epoch + step) / steps_per_epoch, epochs)
            trunk = torch.from_numpy(np.stack([examples[i].trunk for i in rows])).float()
            if flips[step]:
                trunk = trunk.flip(-1)  # (B, c, h, w): a mirrored photo, near enough
            labels = torch.stack([examples[i].labels for i in rows]).to(device)  # (B, K)
            weights = torch.stack([examples[i].weights for i in rows]).to(device)  # (B, K)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                features = tail_forward(network, trunk.to(device), tail_stages)  # (B, C, h, w)
                logits = head(backbone.pool(features)).float()  # (B, K)
            losses = F.binary_cross_entropy_with_logits(logits, labels, reduction="none")
            loss = (losses * weights).sum() / max(len(rows) * mean_weight, 1e-6)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            total += loss.item()
        logger.info("tail epoch %d/%d loss %.4f", epoch + 1, epochs, total / max(len(batches), 1))
        save_epoch(out_dir, epoch, backbone, head, optimiser)
    for parameter in network.parameters():
        parameter.requires_grad_(False)
    network.cpu().eval()
    return head.cpu().eval()


@torch.inference_mode()
def tail_pooled(
    backbone: Backbone, trunks: Sequence[np.ndarray], tail_stages: int, *, batch_size: int = 64
) -> torch.Tensor:
    """Pooled last features (N, C) of cached trunk outputs through the (fine-tuned) tail."""
    network = backbone.network.eval()
    pooled = torch.zeros((len(trunks), backbone.feature_dim))  # (N, C)
    shapes = [trunk.shape for trunk in trunks]
    for rows in shape_batches(shapes, batch_size, torch.Generator().manual_seed(0)):
        trunk = torch.from_numpy(np.stack([trunks[i] for i in rows])).float()  # (B, c, h, w)
        pooled[rows] = backbone.pool(tail_forward(network, trunk, tail_stages))
    return pooled


def set_learning_rate(optimiser, epoch_progress: float, epochs: int) -> None:
    """Linear warm-up over the first epoch, then cosine decay to zero (stateless: resumable)."""
    warmup = min(1.0, epoch_progress + 1e-3)
    factor = warmup * 0.5 * (1 + math.cos(math.pi * epoch_progress / max(epochs, 1)))
    for group in optimiser.param_groups:
        group["lr"] = group.setdefault("initial_lr", group["lr"]) * factor


def save_epoch(
    out_dir: Path, epoch: int, backbone: Backbone, head: CamHead, optimiser, *, prefix="finetune"
) -> None:
    """Save the network, head and optimiser after `epoch` as `out_dir/PREFIX_epoch_NNN.pt`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    state = {
        "epoch": epoch,
        "backbone": backbone.network.state_dict(),
        "head": head.state_dict(),
        "optimiser": optimiser.state_dict(),
    }
    temporary = out_dir / f"{prefix}_epoch_{epoch:03d}.tmp.pt"
    torch.save(state, temporary)
    temporary.replace(out_dir / f"{prefix}_epoch_{epoch:03d}.pt")


def resume_epoch(
    out_dir: Path, backbone: Backbone, head: CamHead, optimiser, *, prefix="finetune"
) -> int:
    """Load the last `save_epoch` file in `out_dir`; returns the epoch to start from."""
    saved = sorted(Path(out_dir).glob(f"{prefix}_epoch_[0-9][0-9][0-9].pt"))
    if not saved:
        return 0
    state = torch.load(saved[-1], map_location="cpu", weights_only=True)
    backbone.network.load_state_dict(state["backbone"])
    head.load_state_dict(state["head"])
    optimiser.load_state_dict(state["optimiser"])
    logger.info("resuming training after %s", saved[-1].name)
    return int(state["epoch"]) + 1
