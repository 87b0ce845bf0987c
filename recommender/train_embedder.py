"""Train the multi-label embedder: catalog tags (sigmoid BCE) + street-to-shop pairs (InfoNCE).

Losses. Catalog photos learn their tags (masked BCE over the vocabulary; with
`--group-softmax-weight`, also a softmax cross-entropy within each tag group). The pairs/ set
has no catalog tags: the ground-truth top crop of each training pair's person photo is
pulled toward its shop photo's embedding and pushed away from the other shop photos and
the catalog photos of the same step (InfoNCE; the catalog photos play the distractors of
the search gallery). Pairs are split by md5 of the person file name
(`recommender.data.pairs.pair_split`); only "train" pairs are used here.

Pair tagsets. InfoNCE alone spreads the pairs, all tops, over the whole tag space, so the
model first learns the catalog tags alone (`--pair-warmup-epochs`); then each pair's clean
shop photo gets the model's predicted tagset as fixed targets, which its crop and itself
keep (`--pair-tag-weight`). Both modes do this; the full mode predicts with the backbone
fine-tuned so far.

Modes. --quick freezes the backbone, caches pooled features of a clean pass and
`--augment-passes` augmented passes under OUT/feature_cache, and trains the head only.
The full mode fine-tunes the last `--trainable-blocks` stages with on-the-fly augmentation;
on CUDA it uses bf16 autocast, channels_last and DataLoader workers. `--init-from CKPT`
starts it from a trained checkpoint instead of a random head: linear probe, then
fine-tune (LP-FT), with the quick run's head as the probe.

    python -m recommender.train_embedder --data-dir ../shared/data --out var/models/run --quick
    python -m recommender.train_embedder --data-dir ../shared/data --out var/models/full \
        --init-from var/models/run/embedder.pt

One module on purpose (past the ~400-line guide): both modes share the config, data,
schedule and checkpointing, and the whole run reads top to bottom in one sitting.
"""

from __future__ import annotations

import argparse
import logging
import math
import subprocess
import time
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from recommender.augment import BoxJitter, TrainAugment
from recommender.checkpoints import load_checkpoint, save_checkpoint
from recommender.data.catalog import CatalogItem, CatalogTagDataset, items_in_split, read_catalog
from recommender.data.feature_cache import (
    ImageRef,
    ImageRefDataset,
    cached_pooled_features,
    compute_pooled_features,
)
from recommender.data.pairs import Pair, PairImageDataset, pairs_in_split, read_pairs
from recommender.devices import resolve_device
from recommender.evaluate.tagging import top1_accuracy_per_group
from recommender.models.backbones import build_backbone
from recommender.models.embedder import (
    EmbedderConfig,
    EmbeddingHead,
    TagEmbedder,
    grouped_softmax_loss,
    masked_tag_loss,
    pair_contrastive_loss,
    pseudo_tag_targets,
    set_trainable_blocks,
)
from recommender.models.transforms import EvalTransform
from recommender.tags import TagVocabulary, build_vocabulary
from recommender.weights import MIN_INPUT_SIZE, WEIGHTS, get_weight_entry

logger = logging.getLogger(__name__)

DEFAULT_WEIGHTS = "efficientnet_lite0.imagenet"
LAST_CHECKPOINT = "last.pt"
PAIR_TAGS = "pair_tags.pt"
FINAL_CHECKPOINT = "embedder.pt"


@dataclass(frozen=True)
class TrainConfig:
    data_dir: Path
    out_dir: Path
    quick: bool = True
    epochs: int = 0  # 0: 40 quick, 6 full
    seed: int = 0
    resume: bool = False
    # The registry entry of the ImageNet weights the backbone starts from.
    weights: str = DEFAULT_WEIGHTS
    embedding_dim: int = 256
    min_count: int = 5
    learning_rate: float = 0.0  # 0: 2e-3 quick, 1e-3 full (backbone at a tenth)
    batch_size: int = 0  # 0: 256 quick, 32 full
    pair_batch_size: int = 64
    augment_passes: int = 1
    pair_loss_weight: float = 1.0
    pair_tag_weight: float = 1.0  # pairs keep the tags predicted for their shop photo
    # weight of a softmax cross-entropy within each tag group beside the sigmoid one
    group_softmax_weight: float = 0.0
    # tags-only epochs before the pairs join; -1: 10 quick, 2 full (0 with `init_from`)
    pair_warmup_epochs: int = -1
    catalog_negatives: bool = True  # catalog photos of the step are InfoNCE distractors
    trainable_blocks: int = 2
    pooled_stages: tuple[int, ...] = (3, 4, 5)  # mid-level stages pooled beside the last
    grid_stages: tuple[int, ...] = (0,)  # early stages averaged on a 7x7 grid (colour layout)
    hidden_dim: int = 1024  # hidden layer of the head (0: one linear projection)
    box_jitter: bool = True  # augmented street crops use jittered boxes (BoxJitter)
    input_size: int = 0  # square side images are resized to; 0: the backbone weights' own
    # Final fit: the val split trains too, with settings chosen on val before (its numbers
    # are then no longer held out; the test split stays untouched).
    train_on_val: bool = False
    init_from: Path | None = None  # full mode: start from this checkpoint's weights (LP-FT)
    device: str = "cpu"
    workers: int = 0
    code_version: str = "unknown"
    on_error: str = "raise"
    max_items: int = 0  # keep the first N catalog items / pairs (smoke runs); 0: all
    progress: bool = True
    name: str = "tag-embedder"

    def resolved(self) -> TrainConfig:
        """Mode-dependent defaults filled in.

        Started from a trained checkpoint (`init_from`), the full mode takes smaller steps
        (3e-4, backbone at a tenth) and no tags-only warm-up: its head already reads the
        tags, and large first steps through a trained head distort the backbone's features
        (Kumar et al., 2022, "Fine-Tuning can Distort Pretrained Features")."""
        if self.quick:
            learning_rate, warmup = 2e-3, 10
        else:
            learning_rate, warmup = (3e-4, 0) if self.init_from else (1e-3, 2)
        return replace(
            self,
            epochs=self.epochs or (40 if self.quick else 6),
            learning_rate=self.learning_rate or learning_rate,
            batch_size=self.batch_size or (256 if self.quick else 32),
            pair_warmup_epochs=(
                self.pair_warmup_epochs if self.pair_warmup_epochs >= 0 else warmup
            ),
        )


@dataclass(frozen=True)
class TrainingData:
    train_items: list[CatalogItem]
    val_items: list[CatalogItem]
    train_pairs: list[Pair]
    vocabulary: TagVocabulary


def load_training_data(config: TrainConfig) -> TrainingData:
    """Catalog train/val splits, the vocabulary built on the training items, and the training
    pairs; with `train_on_val` the val items train too (and are still reported as val)."""
    items = read_catalog(config.data_dir / "catalog", on_error=config.on_error)
    if config.max_items:
        items = items[: config.max_items]
    fit_splits = ("train", "val") if config.train_on_val else ("train",)
    train_items = [item for item in items if item.split in fit_splits]
    vocabulary = build_vocabulary([item.row for item in train_items], min_count=config.min_count)
    pairs_dir = config.data_dir / "pairs"
    pairs: list[Pair] = []
    if (pairs_dir / "pairs.csv").is_file():
        pairs = pairs_in_split(read_pairs(pairs_dir, on_error=config.on_error), "train")
    else:
        logger.warning("no pairs at %s: training on catalog tags only", pairs_dir)
    if config.max_items:
        pairs = pairs[: config.max_items]
    return TrainingData(train_items, items_in_split(items, "val"), pairs, vocabulary)


def code_version() -> str:
    """`git describe` of the working tree when run from a checkout, else "unknown"."""
    try:
        result = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return result.stdout.strip() or "unknown"


def train(config: TrainConfig) -> Path:
    """Train, save OUT/last.pt each epoch and OUT/embedder.pt at the end; returns the latter."""
    config = config.resolved()
    if config.quick and config.init_from is not None:
        raise ValueError("init_from is for the full mode: the quick mode's features are cached")
    torch.manual_seed(config.seed)
    device = resolve_device(config.device)
    data = load_training_data(config)
    entry = get_weight_entry(config.weights)
    backbone = build_backbone(entry.architecture, weights=entry)
    embedder_config = EmbedderConfig(
        architecture=entry.architecture,
        embedding_dim=config.embedding_dim,
        num_tags=data.vocabulary.size,
        pooled_stages=config.pooled_stages,
        grid_stages=config.grid_stages,
        hidden_dim=config.hidden_dim,
    )
    model = TagEmbedder(
        backbone,
        replace(embedder_config, feature_dim=backbone.pooled_dim(**embedder_config.pooling)),
    )
    logger.info(
        "%d train items, %d val items, %d train pairs, %d tags",
        len(data.train_items),
        len(data.val_items),
        len(data.train_pairs),
        data.vocabulary.size,
    )
    if config.train_on_val:
        logger.warning("the val split trains too: its numbers below are not held out")
    if config.init_from is not None:
        _initialise(model, config.init_from, data.vocabulary)
    started = time.monotonic()
    if config.quick:
        metrics = _train_quick(config, data, model, device)
    else:
        metrics = _train_full(config, data, model, device)
    metrics["train_seconds"] = round(time.monotonic() - started, 1)
    metrics["val_held_out"] = not config.train_on_val
    final = config.out_dir / FINAL_CHECKPOINT
    _save(config, data.vocabulary, model, final, metrics=metrics)
    logger.info("saved %s: %s", final, metrics)
    return final


def _initialise(model: TagEmbedder, path: Path, vocabulary: TagVocabulary) -> None:
    """Load a trained checkpoint's weights (typically the quick mode's head on the ImageNet
    backbone) to fine-tune from; refused unless its architecture and tag vocabulary are
    this run's (`CheckpointMismatchError` names the difference)."""
    checkpoint = load_checkpoint(path, expected_vocabulary=vocabulary, expected_config=model.config)
    model.load_state_dict(checkpoint.state_dict)
    logger.info("starting from %s (%s)", path, checkpoint.name)


def _end_epoch(config, data, model, optimizer, metrics: dict) -> None:
    """Log the epoch and write the resumable last checkpoint."""
    logger.info("epoch %d: %s", metrics["epoch"], metrics)
    _save(
        config,
        data.vocabulary,
        model,
        config.out_dir / LAST_CHECKPOINT,
        metrics=metrics,
        training_state={"epoch": metrics["epoch"], "optimizer": optimizer.state_dict()},
    )


def _save(config, vocabulary, model, path, *, metrics, training_state=None) -> str:
    entry = get_weight_entry(config.weights)
    return save_checkpoint(
        path,
        name=f"{config.name}-{'quick' if config.quick else 'full'}",
        model=model,
        vocabulary=vocabulary,
        transform=_eval_transform(config),
        backbone_weights_sha256=entry.sha256,
        code_version=config.code_version,
        metrics={**metrics, "train_config": _jsonable(config)},
        training_state=training_state,
    )


def _eval_transform(config: TrainConfig) -> EvalTransform:
    """The backbone weights' eval transform at the run's input size (saved in the checkpoint,
    so search-time crops are resized the same way)."""
    return get_weight_entry(config.weights).transforms(config.input_size)


def _train_augment(config: TrainConfig) -> TrainAugment:
    transform = _eval_transform(config)
    return TrainAugment(input_size=transform.input_size, mean=transform.mean, std=transform.std)


def _jsonable(config: TrainConfig) -> dict:
    return {
        key: str(value) if isinstance(value, Path) else value
        for key, value in asdict(config).items()
    }


def _resume(config: TrainConfig, model: nn.Module, optimizer) -> int:
    """Load OUT/last.pt into model + optimizer; returns the first epoch still to run."""
    path = config.out_dir / LAST_CHECKPOINT
    if not (config.resume and path.is_file()):
        return 0
    checkpoint = load_checkpoint(path, expected_config=model.config)
    model.load_state_dict(checkpoint.state_dict)
    optimizer.load_state_dict(checkpoint.training_state["optimizer"])
    logger.info("resumed from %s after epoch %d", path, checkpoint.training_state["epoch"])
    return int(checkpoint.training_state["epoch"]) + 1


def _catalog_refs(items: list[CatalogItem]) -> list[ImageRef]:
    return [ImageRef(item.image_path) for item in items]


def _quick_features(config, data, model, device) -> dict[str, list[np.ndarray]]:
    """Pooled features (cached): clean pass + augmented passes of train items and pairs."""
    entry = get_weight_entry(config.weights)
    transform = _eval_transform(config)
    augment = _train_augment(config)
    sources = {
        "train": _catalog_refs(data.train_items),
        "val": _catalog_refs(data.val_items),
        "crop": [ImageRef(pair.person_path, pair.box) for pair in data.train_pairs],
        "cloth": [ImageRef(pair.cloth_path) for pair in data.train_pairs],
    }
    features: dict[str, list[np.ndarray]] = {}
    for name, refs in sources.items():
        passes = 1 if name == "val" else 1 + config.augment_passes
        features[name] = [
            cached_pooled_features(
                model.backbone,
                ImageRefDataset(
                    _jittered(refs, config, index) if name == "crop" else refs,
                    transform,
                    augment=augment if index else None,
                    pass_index=index,
                    seed=config.seed,
                ),
                cache_dir=config.out_dir / "feature_cache",
                weights_sha256=entry.sha256,
                device=device,
                workers=config.workers,
                progress=config.progress,
                description=f"{name} pass {index}",
                **model.config.pooling,
            )
            for index in range(passes)
        ]
    return features


def _jittered(refs: list[ImageRef], config: TrainConfig, pass_index: int) -> list[ImageRef]:
    """Street crops of an augmented pass with jittered boxes (pass 0 keeps the true ones).

    Seeded by the photo's name and the pass, so the per-image feature cache stays valid."""
    if not config.box_jitter or pass_index == 0:
        return refs
    jitter = BoxJitter()
    return [
        ImageRef(
            ref.path,
            jitter(
                ref.box,
                np.random.default_rng(
                    [config.seed, pass_index, zlib.crc32(ref.path.name.encode())]
                ),
            ),
        )
        if ref.box is not None
        else ref
        for ref in refs
    ]


def _train_quick(config, data, model: TagEmbedder, device) -> dict:
    """Frozen backbone: train the head on cached pooled features."""
    features = _quick_features(config, data, model, device)
    targets, masks = data.vocabulary.encode_rows([item.row for item in data.train_items])
    head = model.head.to(device)
    optimizer = torch.optim.AdamW(head.parameters(), lr=config.learning_rate, weight_decay=1e-4)
    start = _resume(config, model, optimizer)
    train_x = torch.from_numpy(np.concatenate(features["train"]))  # (P*N, C)
    train_y = torch.from_numpy(np.tile(targets, (len(features["train"]), 1)))  # (P*N, T)
    train_m = torch.from_numpy(np.tile(masks, (len(features["train"]), 1)))  # (P*N, T)
    crops = torch.from_numpy(np.stack(features["crop"]))  # (P, M, C)
    cloths = torch.from_numpy(np.stack(features["cloth"]))  # (P, M, C)
    steps_per_epoch = max(1, len(train_x) // config.batch_size)
    metrics: dict = {}
    pair_tags = None
    tag_loss_of = _tag_loss(config, data.vocabulary)
    for epoch in range(start, config.epochs):
        # Per-epoch seeds (dropout, sampling): a resumed or warm-cache run repeats the same steps.
        torch.manual_seed(config.seed * 1000 + epoch)
        generator = torch.Generator().manual_seed(config.seed * 1000 + epoch)
        with_pairs = (
            epoch >= config.pair_warmup_epochs
            and crops.shape[1] > 0
            and bool(config.pair_loss_weight or config.pair_tag_weight)
        )
        if with_pairs and pair_tags is None:
            pair_tags = _pair_tags(
                config, data.vocabulary, lambda: _head_logits(head, cloths[0], device)
            )
        head.train()
        order = torch.randperm(len(train_x), generator=generator)
        totals = np.zeros(3)
        for step in range(steps_per_epoch):
            rows = order[step * config.batch_size : (step + 1) * config.batch_size]
            pair_x, targets = torch.zeros((0, train_x.shape[1])), None  # no pairs yet
            if with_pairs:
                pair_x, targets = _quick_pair_batch(crops, cloths, pair_tags, config, generator)
                targets = tuple(target.to(device) for target in targets)
            batch = torch.cat([train_x[rows], pair_x]).to(device)  # (B + 2P, C)
            embedding, logits = head(batch)  # (B + 2P, D), (B + 2P, T)
            count = len(rows)
            tag_loss = tag_loss_of(
                logits[:count], train_y[rows].to(device), train_m[rows].to(device)
            )
            pair_loss, pair_tag_loss = _pair_losses(
                embedding, logits, count, config.catalog_negatives, tag_loss_of, targets
            )
            loss = (
                tag_loss
                + config.pair_loss_weight * pair_loss
                + config.pair_tag_weight * pair_tag_loss
            )
            _set_learning_rate(optimizer, config, epoch + step / steps_per_epoch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            totals += (tag_loss.item(), pair_loss.item(), pair_tag_loss.item())
        metrics = {
            "epoch": epoch,
            **_loss_metrics(totals / steps_per_epoch),
            "val_top1": _val_top1(head, features["val"][0], data, device),
        }
        _end_epoch(config, data, model, optimizer, metrics)
    return metrics


def _set_learning_rate(optimizer, config: TrainConfig, epoch_progress: float) -> None:
    """One epoch of linear warm-up, then cosine decay to zero (resume-safe: no state)."""
    fraction = epoch_progress / config.epochs
    warmup = min(1.0, (epoch_progress + 1e-3) / 1.0) if config.epochs > 1 else 1.0
    factor = warmup * 0.5 * (1 + math.cos(math.pi * fraction))
    for group in optimizer.param_groups:
        group["lr"] = group.setdefault("initial_lr", group["lr"]) * factor


def _tag_loss(config: TrainConfig, vocabulary: TagVocabulary):
    """The tag loss, (logits, targets, masks) -> scalar: sigmoid cross-entropy over the
    labelled tags, plus `group_softmax_weight` times a softmax one within each group."""
    groups = list(vocabulary.slices().values())

    def tag_loss(logits: torch.Tensor, targets: torch.Tensor, masks: torch.Tensor):
        loss = masked_tag_loss(logits.float(), targets, masks)
        if config.group_softmax_weight:
            loss = loss + config.group_softmax_weight * grouped_softmax_loss(
                logits, targets, masks, groups
            )
        return loss

    return tag_loss


def _pair_losses(
    embedding, logits, count: int, catalog_negatives: bool, tag_loss, pair_targets=None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Losses of the pair rows after the `count` catalog rows of one forward.

    Rows: catalog (count), then P street crops, then their P shop photos. The crop should
    be nearest to its shop photo (InfoNCE; the catalog rows as distractors with
    `catalog_negatives`). With `pair_targets` ((2P, T) targets and masks), both views also
    keep a fixed tagset (under `tag_loss`, the catalog rows' tag loss): without it,
    InfoNCE spreads the pairs' embeddings, all tops, over the whole tag space (held-out
    shop photos and their crops agreed on the sub-category in 42% of pairs, shop photos
    were called bags and socks)."""
    if len(embedding) == count:
        zero = embedding.new_zeros(())
        return zero, zero
    queries, positives = embedding[count:].float().chunk(2)  # (P, D) each
    negatives = embedding[:count].float() if catalog_negatives else None  # (B, D)
    pair_loss = pair_contrastive_loss(queries, positives, negatives)
    if pair_targets is None:
        return pair_loss, embedding.new_zeros(())
    return pair_loss, tag_loss(logits[count:], *pair_targets)


def _pair_tags(config, vocabulary, cloth_logits: Callable[[], torch.Tensor]):
    """Fixed tag targets of the pairs: the warmed-up model's tagset for each clean shop photo.

    `cloth_logits()` gives the (M, T) logits of the training pairs' clean shop photos (it
    is not called when a resumed run reuses its saved targets). Shop photos are in the
    catalog's domain, so after the tags-only warm-up the model reads them well; the
    targets stay fixed from then on (saved with the run for an exact resume), so the pairs
    cannot drag them along. Groups below p = 0.5 are masked out."""
    path = config.out_dir / PAIR_TAGS
    if config.resume and path.is_file():
        saved = torch.load(path, map_location="cpu", weights_only=True)
        return saved["targets"], saved["masks"]
    logits = cloth_logits().float().cpu()  # (M, T)
    targets, masks = pseudo_tag_targets(logits, list(vocabulary.slices().values()))
    config.out_dir.mkdir(parents=True, exist_ok=True)
    torch.save({"targets": targets, "masks": masks}, path)
    return targets, masks


@torch.inference_mode()
def _head_logits(head: EmbeddingHead, pooled: torch.Tensor, device) -> torch.Tensor:
    """The head's logits (N, T) for pooled features (N, C), in eval mode."""
    head.eval()
    return head(pooled.to(device))[1]


def _loss_metrics(means: np.ndarray) -> dict:
    names = ("tag_loss", "pair_loss", "pair_tag_loss")
    return {name: round(float(value), 4) for name, value in zip(names, means, strict=True)}


def _quick_pair_batch(crops, cloths, pair_tags, config, generator):
    """A batch of pairs: features (2P, C), P crops then their P shop photos, and their
    fixed tag targets and masks ((2P, T) each).

    They go through the head in the same forward as the catalog rows, so the head's
    BatchNorm normalises every row with one batch's statistics, as its running statistics
    will at inference (separate forwards made the running mean two thirds street/shop)."""
    passes, count, _ = crops.shape
    rows = torch.randperm(count, generator=generator)[: config.pair_batch_size]
    crop_pass = torch.randint(passes, (len(rows),), generator=generator)
    cloth_pass = torch.randint(passes, (len(rows),), generator=generator)
    features = torch.cat([crops[crop_pass, rows], cloths[cloth_pass, rows]])  # (2P, C)
    targets = tuple(torch.cat([tensor[rows]] * 2) for tensor in pair_tags)  # (2P, T) each
    return features, targets


@torch.inference_mode()
def _val_top1(head: EmbeddingHead, pooled: np.ndarray, data: TrainingData, device) -> dict:
    if len(pooled) == 0:
        return {}
    head.eval()
    _, logits = head(torch.from_numpy(pooled).to(device))  # (N, T)
    targets, masks = data.vocabulary.encode_rows([item.row for item in data.val_items])
    scores = logits.float().cpu().numpy()
    top1 = top1_accuracy_per_group(scores, targets, masks, data.vocabulary)
    return {name: round(value, 4) for name, value in top1.items()}


def _train_full(config, data, model: TagEmbedder, device) -> dict:
    """Fine-tune the last backbone stages and the head with on-the-fly augmentation."""
    set_trainable_blocks(model, config.trainable_blocks)
    model.to(device, memory_format=torch.channels_last)
    backbone_parameters = [p for p in model.backbone.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        [
            {"params": backbone_parameters, "lr": config.learning_rate / 10},
            {"params": model.head.parameters(), "lr": config.learning_rate},
        ],
        weight_decay=1e-4,
    )
    start = _resume(config, model, optimizer)
    val_refs = _catalog_refs(data.val_items)
    cloth_refs = [ImageRef(pair.cloth_path) for pair in data.train_pairs]
    metrics: dict = {}
    pair_tags = None
    for epoch in range(start, config.epochs):
        with_pairs = (
            epoch >= config.pair_warmup_epochs
            and len(data.train_pairs) >= 2
            and bool(config.pair_loss_weight or config.pair_tag_weight)
        )
        if with_pairs and pair_tags is None:
            pair_tags = _pair_tags(
                config,
                data.vocabulary,
                lambda: _full_logits(model, cloth_refs, config, device),
            )
        torch.manual_seed(config.seed * 1000 + epoch)
        losses = _train_full_epoch(
            model, optimizer, data, config, epoch, device, pair_tags if with_pairs else None
        )
        val_pooled = _full_pooled(model, val_refs, config, device)
        metrics = {
            "epoch": epoch,
            **losses,
            "val_top1": _val_top1(model.head, val_pooled, data, device),
        }
        _end_epoch(config, data, model, optimizer, metrics)
    return metrics


def _full_pooled(model: TagEmbedder, refs: list[ImageRef], config, device) -> np.ndarray:
    """Pooled features (N, C) of clean (unaugmented) images with the current backbone."""
    return compute_pooled_features(
        model.backbone,
        ImageRefDataset(refs, _eval_transform(config)),
        device=device,
        workers=config.workers,
        **model.config.pooling,
    )


def _full_logits(model: TagEmbedder, refs: list[ImageRef], config, device):
    """The model's logits (N, T) for clean images (the backbone is left in eval mode;
    `_set_train_mode` restores training mode at the next epoch)."""
    pooled = torch.from_numpy(_full_pooled(model, refs, config, device))
    return _head_logits(model.head, pooled, device)


def _train_full_epoch(
    model: TagEmbedder, optimizer, data, config, epoch, device, pair_tags=None
) -> dict:
    """One epoch over the catalog train split; with `pair_tags` ((M, T) targets and masks
    of the training pairs), each step also takes a batch of pairs."""
    augment = _train_augment(config)
    generator = torch.Generator().manual_seed(config.seed * 1000 + epoch)
    loader_options = {
        "num_workers": config.workers,
        "pin_memory": device.type == "cuda",
        "shuffle": True,
        "drop_last": True,
        "generator": generator,
    }
    catalog = CatalogTagDataset(
        data.train_items, data.vocabulary, augment, seed=config.seed, epoch=epoch
    )
    loader = DataLoader(catalog, batch_size=min(config.batch_size, len(catalog)), **loader_options)
    pair_batches = None
    if pair_tags is not None:
        pair_batches = _pair_batches(data, augment, config, epoch, loader_options)
    _set_train_mode(model)
    tag_loss_of = _tag_loss(config, data.vocabulary)
    totals, steps = np.zeros(3), len(loader)
    for step, (images, targets, masks) in enumerate(
        tqdm(loader, desc=f"epoch {epoch}", disable=not config.progress, leave=False)
    ):
        _set_learning_rate(optimizer, config, epoch + step / steps)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            count, pair_targets = len(images), None
            if pair_batches is not None:  # one forward: BN sees one batch (_quick_pair_batch)
                crops, cloths, rows = next(pair_batches)  # (P, 3, S, S) each, (P,)
                images = torch.cat([images, crops, cloths])  # (B + 2P, 3, S, S)
                pair_targets = tuple(
                    torch.cat([tensor[rows]] * 2).to(device) for tensor in pair_tags
                )  # (2P, T) each
            images = images.to(device, memory_format=torch.channels_last, non_blocking=True)
            embedding, logits = model.forward_all(images)  # (B + 2P, D), (B + 2P, T)
            tag_loss = tag_loss_of(logits[:count], targets.to(device), masks.to(device))
            pair_loss, pair_tag_loss = _pair_losses(
                embedding, logits, count, config.catalog_negatives, tag_loss_of, pair_targets
            )
        loss = (
            tag_loss + config.pair_loss_weight * pair_loss + config.pair_tag_weight * pair_tag_loss
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        totals += (tag_loss.item(), pair_loss.item(), pair_tag_loss.item())
    return _loss_metrics(totals / steps)


def _pair_batches(data, augment, config, epoch, loader_options):
    """An endless iterator of (crops, shop photos, pair indices) batches of training pairs."""
    pairs = PairImageDataset(
        data.train_pairs,
        augment,
        seed=config.seed,
        epoch=epoch,
        box_jitter=BoxJitter() if config.box_jitter else None,
        with_index=True,
    )
    size = min(config.pair_batch_size, config.batch_size, len(pairs))
    return _endless(DataLoader(pairs, batch_size=size, **loader_options))


def _endless(loader: DataLoader):
    """The loader's batches again and again (itertools.cycle would keep every batch of
    images in memory to replay it: about 1.7 GB for the 1,406 training pairs)."""
    while True:
        yield from loader


def _set_train_mode(model: TagEmbedder) -> None:
    """Train mode for the head and the backbone's trainable modules except BatchNorm: every
    backbone BN normalises with its running statistics (its scale and shift still learn).

    Batch statistics of 32 catalog photos are not the ones the features were computed
    with: in train mode the fine-tuned stages' BN alone took a quick-mode head's val
    article type / colour from 0.877 / 0.710 to 0.683 / 0.629 before any step."""
    model.eval()
    for module in model.backbone.modules():
        trainable = any(parameter.requires_grad for parameter in module.parameters(recurse=False))
        if trainable and not isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.train()
    model.head.train()


def _stage_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected stage numbers like 3,4,5, got {text!r}"
        ) from None


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir", type=Path, required=True, help="folder with catalog/ (and optionally pairs/)"
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--quick", action="store_true", help="frozen backbone, cached features")
    parser.add_argument("--epochs", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    parser.add_argument(
        "--weights",
        choices=sorted(WEIGHTS),
        default=DEFAULT_WEIGHTS,
        help="ImageNet weights the backbone starts from (a registry entry)",
    )
    parser.add_argument("--embedding-dim", type=int, default=256)
    parser.add_argument("--learning-rate", type=float, default=0.0)
    parser.add_argument("--batch-size", type=int, default=0)
    parser.add_argument("--augment-passes", type=int, default=1)
    parser.add_argument("--pair-loss-weight", type=float, default=1.0)
    parser.add_argument(
        "--pair-tag-weight",
        type=float,
        default=1.0,
        help="weight of the pairs keeping their shop photo's predicted tags",
    )
    parser.add_argument(
        "--group-softmax-weight",
        type=float,
        default=TrainConfig.group_softmax_weight,
        help="weight of a softmax cross-entropy within each tag group (one article type, "
        "one colour, ...) beside the sigmoid one over all tags",
    )
    parser.add_argument(
        "--no-catalog-negatives",
        action="store_true",
        help="street crops compete with the other pairs' shop photos only",
    )
    parser.add_argument(
        "--pair-warmup-epochs",
        type=int,
        default=-1,
        help="tags-only epochs before the pairs join (-1: 10 quick, 2 full, 0 with --init-from)",
    )
    parser.add_argument("--trainable-blocks", type=int, default=2, help="-1: whole backbone")
    parser.add_argument(
        "--init-from",
        type=Path,
        default=None,
        help="full mode: start from this checkpoint's weights, e.g. a quick run's embedder.pt",
    )
    parser.add_argument(
        "--no-box-jitter", action="store_true", help="street crops keep their true boxes"
    )
    parser.add_argument(
        "--pooled-stages",
        type=_stage_list,
        default=TrainConfig.pooled_stages,
        help="backbone stages pooled beside the last features, e.g. 3,4,5 ('' for none)",
    )
    parser.add_argument(
        "--grid-stages",
        type=_stage_list,
        default=TrainConfig.grid_stages,
        help="early stages averaged on a 7x7 grid beside the pooled ones, e.g. 0 ('' for none)",
    )
    parser.add_argument(
        "--hidden-dim", type=int, default=1024, help="hidden layer of the head (0: none)"
    )
    parser.add_argument(
        "--input-size",
        type=int,
        default=0,
        help="square side the images are resized to (0: the backbone weights' own, 224)",
    )
    parser.add_argument(
        "--train-on-val",
        action="store_true",
        help="final fit: the val split trains too (its numbers are then not held out)",
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--workers", type=int, default=4 if torch.cuda.is_available() else 0)
    parser.add_argument("--on-error", choices=("raise", "skip"), default="raise")
    parser.add_argument("--max-items", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    args = parser.parse_args(argv)
    if args.input_size < 0 or 0 < args.input_size < MIN_INPUT_SIZE:
        parser.error(
            f"--input-size must be 0 (the weights' own) or at least {MIN_INPUT_SIZE}, "
            f"got {args.input_size}"
        )
    for option in ("pair_loss_weight", "pair_tag_weight", "group_softmax_weight"):
        if getattr(args, option) < 0:
            flag = "--" + option.replace("_", "-")
            parser.error(f"{flag} must be 0 or more, got {getattr(args, option)}")
    if args.quick and args.init_from is not None:
        # The quick mode's feature cache is keyed by the ImageNet weights: a checkpoint with a
        # fine-tuned backbone would be trained on features it does not compute.
        parser.error("--init-from is for the full mode (drop --quick)")
    return TrainConfig(
        data_dir=args.data_dir,
        out_dir=args.out,
        quick=args.quick,
        epochs=args.epochs,
        seed=args.seed,
        resume=args.resume,
        weights=args.weights,
        embedding_dim=args.embedding_dim,
        learning_rate=args.learning_rate,
        batch_size=args.batch_size,
        augment_passes=args.augment_passes,
        pooled_stages=args.pooled_stages,
        grid_stages=args.grid_stages,
        hidden_dim=args.hidden_dim,
        box_jitter=not args.no_box_jitter,
        input_size=args.input_size,
        train_on_val=args.train_on_val,
        pair_loss_weight=args.pair_loss_weight,
        pair_tag_weight=args.pair_tag_weight,
        group_softmax_weight=args.group_softmax_weight,
        catalog_negatives=not args.no_catalog_negatives,
        pair_warmup_epochs=args.pair_warmup_epochs,
        trainable_blocks=args.trainable_blocks,
        init_from=args.init_from,
        device=args.device,
        workers=args.workers,
        code_version=code_version(),
        on_error=args.on_error,
        max_items=args.max_items,
        progress=not args.no_progress,
    )


def _threads_argument(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--threads", type=int, default=0)
    return parser.parse_known_args(argv)[0].threads


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    config, threads = parse_args(argv), _threads_argument(argv)
    if threads:
        # On a shared CPU, 2 threads on 2 busy cores ran ~16x slower than 1 (measured).
        torch.set_num_threads(threads)
    started = time.monotonic()
    path = train(config)
    print(f"checkpoint: {path} ({time.monotonic() - started:.0f} s)")  # noqa: T201


if __name__ == "__main__":
    main()
