from __future__ import annotations

import copy

import pytest
import torch
from torch.nn import functional as F

from recommender.models.backbones import build_backbone
from recommender.models.embedder import (
    EmbedderConfig,
    TagEmbedder,
    grouped_softmax_loss,
    masked_tag_loss,
    pair_contrastive_loss,
    pseudo_tag_targets,
    set_trainable_blocks,
)
from tests.helpers import single_torch_thread

CONFIG = EmbedderConfig(embedding_dim=16, num_tags=6, dropout=0.0)


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    with single_torch_thread():
        yield


@pytest.fixture
def model() -> TagEmbedder:
    torch.manual_seed(0)
    return TagEmbedder(build_backbone(pretrained=False), CONFIG)


def test_shapes_no_nans_and_unit_norm_search_vectors(model: TagEmbedder) -> None:
    images = torch.randn(3, 3, 32, 32)

    with torch.inference_mode():
        embedding, logits = model.eval().forward_all(images)
        vectors = F.normalize(model(images), dim=1)

    assert embedding.shape == (3, 16) and logits.shape == (3, 6)
    assert torch.isfinite(embedding).all() and torch.isfinite(logits).all()
    assert torch.allclose(vectors.norm(dim=1), torch.ones(3), atol=1e-5)


def test_embedding_is_the_layer_before_the_logits(model: TagEmbedder) -> None:
    images = torch.randn(2, 3, 32, 32)
    with torch.inference_mode():
        embedding, logits = model.eval().forward_all(images)

        assert torch.allclose(model.head.classifier(embedding), logits)


def test_trainable_blocks_freeze_the_rest(model: TagEmbedder) -> None:
    set_trainable_blocks(model, 1)

    network = model.backbone.network
    assert not any(p.requires_grad for p in network.blocks[0].parameters())
    assert all(p.requires_grad for p in network.blocks[-1].parameters())
    assert all(p.requires_grad for p in model.head.parameters())


def test_overfits_a_tiny_batch(model: TagEmbedder) -> None:
    torch.manual_seed(0)
    set_trainable_blocks(model, 1)  # the last stage + head: enough to memorise, fast on CPU
    images = torch.randn(8, 3, 32, 32)
    targets = (torch.rand(8, 6) > 0.5).float()
    masks = torch.ones(8, 6)
    trainable = [parameter for parameter in model.parameters() if parameter.requires_grad]
    optimizer = torch.optim.Adam(trainable, lr=1e-2)
    model.train()
    losses = []
    for _ in range(50):
        _, logits = model.forward_all(images)
        loss = masked_tag_loss(logits, targets, masks)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())

    assert losses[-1] < 0.2 * losses[0]


def test_masked_tag_loss_ignores_masked_columns() -> None:
    logits = torch.tensor([[10.0, -10.0, 3.0]])
    targets = torch.tensor([[1.0, 0.0, 0.0]])

    masked = masked_tag_loss(logits, targets, torch.tensor([[1.0, 1.0, 0.0]]))

    assert masked.item() < 1e-3


def test_pair_loss_is_low_when_queries_match_their_positives() -> None:
    keys = torch.eye(4, 8)
    matched = pair_contrastive_loss(keys, keys, extra_keys=torch.eye(8)[4:])
    shuffled = pair_contrastive_loss(keys, keys.roll(1, dims=0))

    assert matched.item() < 0.01 < shuffled.item()


def test_pooled_stages_add_mid_level_averages_after_the_last_features() -> None:
    torch.manual_seed(0)
    backbone = build_backbone(pretrained=False).eval()
    images = torch.randn(2, 3, 64, 64)

    with torch.inference_mode():
        plain = backbone.pool(backbone.forward_features(images))  # (2, 1280)
        pooled = backbone.pool_stages(images, (3, 5))
        third = backbone.network.blocks[:4](
            backbone.network.bn1(backbone.network.conv_stem(images))
        )

    assert pooled.shape == (2, backbone.pooled_dim((3, 5))) == (2, 1280 + 80 + 192)
    torch.testing.assert_close(pooled[:, :1280], plain)
    torch.testing.assert_close(pooled[:, 1280:1360], third.mean(dim=(2, 3)))
    torch.testing.assert_close(backbone.pool_stages(images), plain)


def test_embedder_with_pooled_stages_checks_its_feature_size() -> None:
    backbone = build_backbone(pretrained=False)
    config = EmbedderConfig(
        feature_dim=backbone.pooled_dim((3, 4)), embedding_dim=8, num_tags=3, pooled_stages=[3, 4]
    )

    model = TagEmbedder(backbone, config).eval()

    assert config.pooled_stages == (3, 4)  # lists (from stored configs) become tuples
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 8)
    with pytest.raises(ValueError, match="pooled features"):
        TagEmbedder(backbone, EmbedderConfig(embedding_dim=8, num_tags=3, pooled_stages=(3,)))
    with pytest.raises(ValueError, match="stage 9"):
        backbone.pooled_dim((9,))


def test_folded_embedder_keeps_the_pooled_stages() -> None:
    from recommender.models.fuse import fuse_batchnorm

    torch.manual_seed(0)
    backbone = build_backbone(pretrained=False).eval()
    images = torch.randn(2, 3, 64, 64)
    folded = copy.deepcopy(backbone)
    folded.network = fuse_batchnorm(folded.network)

    with torch.inference_mode():
        expected = backbone.pool_stages(images, (3, 4, 5))
        actual = folded.pool_stages(images, (3, 4, 5))

    assert folded.pooled_dim((3, 4, 5)) == backbone.pooled_dim((3, 4, 5))
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-4)


def test_grid_stages_keep_an_early_stage_on_a_coarse_grid_after_the_pooled_ones() -> None:
    torch.manual_seed(0)
    backbone = build_backbone(pretrained=False).eval()
    images = torch.randn(2, 3, 64, 64)
    network = backbone.network

    with torch.inference_mode():
        pooled = backbone.pool_stages(images, (3,))
        gridded = backbone.pool_stages(images, (3,), grid_stages=(0,), grid_size=4)
        first = network.blocks[0](network.bn1(network.conv_stem(images)))  # (2, 16, 32, 32)

    assert gridded.shape == (2, backbone.pooled_dim((3,), (0,), 4)) == (2, 1280 + 80 + 16 * 16)
    torch.testing.assert_close(gridded[:, : pooled.shape[1]], pooled)
    grid = gridded[:, pooled.shape[1] :].view(2, 16, 4, 4)
    torch.testing.assert_close(grid[:, :, 1, 2], first[:, :, 8:16, 16:24].mean(dim=(2, 3)))


def test_head_with_a_hidden_layer_and_grid_stages_round_trips_its_config() -> None:
    torch.manual_seed(0)
    backbone = build_backbone(pretrained=False)
    config = EmbedderConfig(
        feature_dim=backbone.pooled_dim(grid_stages=(0,), grid_size=2),
        embedding_dim=8,
        num_tags=3,
        grid_stages=[0],
        grid_size=2,
        hidden_dim=32,
    )
    model = TagEmbedder(backbone, config).eval()

    embedding, logits = model.forward_all(torch.randn(2, 3, 32, 32))

    assert embedding.shape == (2, 8) and logits.shape == (2, 3)
    assert EmbedderConfig(**config.to_dict()) == config  # as stored in a checkpoint
    assert config.grid_stages == (0,)
    assert model.head.projection[0].out_features == 32
    # Without a hidden layer the head keeps the parameter names of earlier checkpoints.
    plain = TagEmbedder(backbone, EmbedderConfig(embedding_dim=8, num_tags=3)).head
    assert {"projection.weight", "projection.bias"} <= set(plain.state_dict())


def test_pseudo_tag_targets_keep_one_value_per_group() -> None:
    logits = torch.tensor([[0.1, 2.0, -1.0, 3.0, 0.5], [1.0, 0.0, 0.2, -2.0, -1.0]])
    logits.requires_grad_(True)

    targets, masks = pseudo_tag_targets(logits, [slice(0, 3), slice(3, 5)])

    assert targets.tolist() == [[0, 1, 0, 1, 0], [1, 0, 0, 0, 1]]
    # Only confident groups count: the second item's best value of group 2 has p = 0.27.
    assert masks.tolist() == [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]
    assert not targets.requires_grad and not masks.requires_grad


def test_grouped_softmax_loss_is_the_cross_entropy_within_each_labelled_group() -> None:
    groups = [slice(0, 3), slice(3, 5)]
    logits = torch.tensor([[2.0, 0.5, -1.0, 0.3, 1.2], [0.1, 0.2, 0.3, -2.0, 4.0]])
    targets = torch.tensor([[0.0, 1.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0, 1.0]])
    # the second item has no label in the first group
    masks = torch.tensor([[1.0, 1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 1.0, 1.0]])

    loss = grouped_softmax_loss(logits, targets, masks, groups)

    first = F.cross_entropy(logits[0:1, 0:3], torch.tensor([1])) + F.cross_entropy(
        logits[0:1, 3:5], torch.tensor([0])
    )
    second = F.cross_entropy(logits[1:2, 3:5], torch.tensor([1]))
    assert loss.item() == pytest.approx((first + second).item() / 2, rel=1e-6)


def test_grouped_softmax_loss_raises_the_labelled_value_above_its_group() -> None:
    groups = [slice(0, 3)]
    logits = torch.zeros(1, 3, requires_grad=True)
    targets = torch.tensor([[0.0, 0.0, 1.0]])

    grouped_softmax_loss(logits, targets, torch.ones(1, 3), groups).backward()
    unlabelled = grouped_softmax_loss(logits, targets, torch.zeros(1, 3), groups)

    assert logits.grad[0, 2] < 0 < logits.grad[0, 0]  # descent raises the label, lowers the rest
    assert unlabelled.item() == 0.0
