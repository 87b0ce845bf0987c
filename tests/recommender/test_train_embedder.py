from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from recommender.checkpoints import CheckpointMismatchError, load_checkpoint
from recommender.embed import ImageEmbedder
from recommender.images import load_image
from recommender.train_embedder import TrainConfig, load_training_data, parse_args, train
from tests.helpers import single_torch_thread
from tests.recommender.synthetic_data import write_catalog, write_pairs


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    with single_torch_thread():
        yield


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data")
    write_catalog(root, count=10)
    write_pairs(root, count=6)
    return root


def _config(data_root: Path, out: Path, **overrides) -> TrainConfig:
    options = {
        "data_dir": data_root,
        "out_dir": out,
        "quick": True,
        "epochs": 3,
        "min_count": 1,
        "batch_size": 4,
        "pair_batch_size": 4,
        "pair_warmup_epochs": 1,
        "progress": False,
        "code_version": "test",
    }
    return TrainConfig(**{**options, **overrides})


def test_quick_training_end_to_end_resumes_and_reuses_cached_features(data_root, tmp_path):
    train(_config(data_root, tmp_path, epochs=2, augment_passes=1))
    cached = sorted((tmp_path / "feature_cache").iterdir())
    pair_tags = (tmp_path / "pair_tags.pt").read_bytes()  # fixed after the warm-up epoch

    path = train(_config(data_root, tmp_path, epochs=3, augment_passes=1, resume=True))

    assert sorted((tmp_path / "feature_cache").iterdir()) == cached
    assert (tmp_path / "pair_tags.pt").read_bytes() == pair_tags  # reused, not recomputed
    checkpoint = load_checkpoint(path)
    assert checkpoint.metrics["epoch"] == 2
    assert checkpoint.metrics["pair_loss"] > 0 and checkpoint.metrics["pair_tag_loss"] > 0
    assert set(checkpoint.metrics["val_top1"]) >= {"articleType", "baseColour"}
    assert checkpoint.code_version == "test"
    embedder = ImageEmbedder.from_checkpoint(path)
    image = load_image(data_root / "catalog" / "images" / "1000.jpg")
    vectors = embedder.embed([image])
    assert vectors.shape == (1, 256)
    assert np.isclose(np.linalg.norm(vectors), 1.0, atol=1e-5)


def test_quick_training_at_another_input_size_is_searched_at_that_size(data_root, tmp_path):
    path = train(_config(data_root, tmp_path, epochs=1, augment_passes=0, input_size=96))

    checkpoint = load_checkpoint(path)
    assert checkpoint.transform["input_size"] == 96
    assert checkpoint.metrics["train_config"]["input_size"] == 96
    embedder = ImageEmbedder.from_checkpoint(path)
    seen = []
    embedder.network.register_forward_pre_hook(lambda _, inputs: seen.append(inputs[0].shape))
    embedder.embed([load_image(data_root / "catalog" / "images" / "1000.jpg")])
    assert seen and tuple(seen[0][-2:]) == (96, 96)


def test_quick_training_from_other_weights_is_rebuilt_and_searched_with_them(data_root, tmp_path):
    lite0 = tmp_path / "lite0"
    train(_config(data_root, lite0, epochs=1, augment_passes=0, input_size=64))
    path = train(
        _config(
            data_root,
            tmp_path / "lite2",
            epochs=1,
            augment_passes=0,
            input_size=64,
            weights="efficientnet_lite2.imagenet",
        )
    )

    checkpoint = load_checkpoint(path)
    assert checkpoint.config.architecture == "efficientnet_lite2"
    assert checkpoint.metrics["train_config"]["weights"] == "efficientnet_lite2.imagenet"
    # Its own features: none of the Lite0 run's cached files is reused.
    lite2_cache = {file.name for file in (tmp_path / "lite2" / "feature_cache").iterdir()}
    assert lite2_cache and lite2_cache.isdisjoint(
        file.name for file in (lite0 / "feature_cache").iterdir()
    )
    embedder = ImageEmbedder.from_checkpoint(path)
    assert embedder.network.backbone.network.default_cfg["architecture"] == "tf_efficientnet_lite2"
    vectors = embedder.embed([load_image(data_root / "catalog" / "images" / "1000.jpg")])
    assert vectors.shape == (1, 256) and np.isfinite(vectors).all()
    chosen = parse_args(
        ["--data-dir", "d", "--out", str(tmp_path), "--weights", "efficientnet_lite2.imagenet"]
    )
    assert chosen.weights == "efficientnet_lite2.imagenet"
    assert parse_args(["--data-dir", "d", "--out", str(tmp_path)]).weights == (
        "efficientnet_lite0.imagenet"
    )


def test_train_on_val_fits_train_and_val_items_and_never_test(data_root, tmp_path):
    held_out = load_training_data(_config(data_root, tmp_path))
    final = load_training_data(_config(data_root, tmp_path, train_on_val=True))

    def ids(items):
        return {item.id for item in items}

    assert ids(final.train_items) == ids(held_out.train_items) | ids(held_out.val_items)
    assert ids(final.val_items) == ids(held_out.val_items)
    assert all(item.split != "test" for item in final.train_items)
    path = train(_config(data_root, tmp_path, epochs=1, augment_passes=0, train_on_val=True))
    assert load_checkpoint(path).metrics["val_held_out"] is False
    assert parse_args(["--data-dir", "d", "--out", str(tmp_path), "--train-on-val"]).train_on_val


def test_full_mode_warms_up_on_tags_then_trains_pairs_with_fixed_tagsets(data_root, tmp_path):
    config = _config(data_root, tmp_path, quick=False, epochs=1, trainable_blocks=1)
    config = replace(config, batch_size=2, pair_batch_size=2)
    warm = load_checkpoint(train(config))
    assert warm.metrics["pair_loss"] == 0 and not (tmp_path / "pair_tags.pt").exists()

    path = train(replace(config, epochs=2, resume=True))

    checkpoint = load_checkpoint(path)
    assert checkpoint.name == "tag-embedder-full" and checkpoint.metrics["epoch"] == 1
    assert checkpoint.metrics["pair_loss"] > 0 and checkpoint.metrics["pair_tag_loss"] > 0
    saved = torch.load(tmp_path / "pair_tags.pt", weights_only=True)
    assert saved["targets"].shape == saved["masks"].shape
    assert saved["targets"].shape[1] == checkpoint.vocabulary.size


def test_cli_arguments_map_to_config(tmp_path, capsys) -> None:
    config = parse_args(["--data-dir", "d", "--out", str(tmp_path), "--quick", "--epochs", "2"])
    sized = parse_args(["--data-dir", "d", "--out", str(tmp_path), "--input-size", "288"])

    assert config.quick and config.epochs == 2 and config.data_dir == Path("d")
    assert config.input_size == 0 and sized.input_size == 288
    for size in ("-5", "16"):
        with pytest.raises(SystemExit):
            parse_args(["--data-dir", "d", "--out", str(tmp_path), "--input-size", size])
        assert f"at least 32, got {size}" in capsys.readouterr().err


def test_cli_sets_the_head_layout_and_the_pair_losses(tmp_path) -> None:
    default = parse_args(["--data-dir", "d", "--out", str(tmp_path)])
    plain = parse_args(
        ["--data-dir", "d", "--out", str(tmp_path), "--grid-stages", "", "--hidden-dim", "0"]
    )

    assert default.grid_stages == (0,) and default.hidden_dim == 1024
    assert plain.grid_stages == () and plain.hidden_dim == 0
    assert default.catalog_negatives and default.pair_warmup_epochs == -1
    assert default.resolved().pair_warmup_epochs == 2  # full mode
    quick = parse_args(["--data-dir", "d", "--out", str(tmp_path), "--quick"])
    assert quick.resolved().pair_warmup_epochs == 10
    pairs = parse_args(
        ["--data-dir", "d", "--out", str(tmp_path), "--no-catalog-negatives"]
        + ["--pair-warmup-epochs", "3", "--pair-tag-weight", "0.5"]
    )
    assert not pairs.catalog_negatives and pairs.pair_warmup_epochs == 3
    assert pairs.pair_tag_weight == 0.5
    assert default.group_softmax_weight == 0.0
    grouped = parse_args(["--data-dir", "d", "--out", str(tmp_path), "--group-softmax-weight", "1"])
    assert grouped.group_softmax_weight == 1.0


def test_cli_refuses_a_negative_loss_weight(tmp_path, capsys) -> None:
    for flag in ("--pair-loss-weight", "--pair-tag-weight", "--group-softmax-weight"):
        with pytest.raises(SystemExit):
            parse_args(["--data-dir", "d", "--out", str(tmp_path), flag, "-0.5"])
        assert f"{flag} must be 0 or more, got -0.5" in capsys.readouterr().err


def test_tag_loss_adds_the_weighted_softmax_within_groups(tmp_path) -> None:
    from recommender.models.embedder import grouped_softmax_loss, masked_tag_loss
    from recommender.tags import build_vocabulary
    from recommender.train_embedder import _tag_loss

    rows = [
        {"articleType": kind, "baseColour": colour}
        for kind in ("Shirts", "Jeans", "Heels")
        for colour in ("Black", "Blue")
    ]
    groups_of = {"articleType": "articleType", "baseColour": "baseColour"}
    vocabulary = build_vocabulary(rows, min_count=1, column_groups=groups_of)
    targets, masks = (torch.from_numpy(array) for array in vocabulary.encode_rows(rows))
    logits = torch.randn(len(rows), vocabulary.size, generator=torch.Generator().manual_seed(0))
    groups = list(vocabulary.slices().values())
    config = parse_args(["--data-dir", "d", "--out", str(tmp_path)])

    plain = _tag_loss(config, vocabulary)(logits, targets, masks)
    weighted = _tag_loss(replace(config, group_softmax_weight=0.5), vocabulary)(
        logits, targets, masks
    )

    sigmoid = masked_tag_loss(logits, targets, masks)
    softmax = grouped_softmax_loss(logits, targets, masks, groups)
    assert plain.item() == pytest.approx(sigmoid.item())
    assert weighted.item() == pytest.approx(sigmoid.item() + 0.5 * softmax.item())


def test_feature_cache_keeps_grid_features_apart(data_root, tmp_path) -> None:
    from recommender.data.feature_cache import ImageRef, ImageRefDataset, cached_pooled_features
    from recommender.models.backbones import build_backbone
    from recommender.weights import get_weight_entry

    backbone = build_backbone(pretrained=False)
    refs = [ImageRef(data_root / "catalog" / "images" / "1000.jpg")]
    dataset = ImageRefDataset(refs, get_weight_entry("efficientnet_lite0.imagenet").transforms())
    options = {"cache_dir": tmp_path, "weights_sha256": "w", "device": torch.device("cpu")}

    pooled = cached_pooled_features(backbone, dataset, stages=(3,), **options)
    gridded = cached_pooled_features(backbone, dataset, stages=(3,), grid_stages=(0,), **options)
    again = cached_pooled_features(backbone, dataset, stages=(3,), grid_stages=(0,), **options)

    assert len(list(tmp_path.iterdir())) == 2
    assert pooled.shape == (1, 1280 + 80) and gridded.shape == (1, 1280 + 80 + 16 * 49)
    np.testing.assert_array_equal(gridded, again)
    np.testing.assert_allclose(gridded[:, :1360], pooled, rtol=1e-5, atol=1e-5)


def test_pair_batches_go_on_past_one_pass_by_reading_the_loader_again() -> None:
    from torch.utils.data import DataLoader

    from recommender.train_embedder import _endless

    class Counted(DataLoader):
        passes = 0

        def __iter__(self):
            Counted.passes += 1
            return super().__iter__()

    batches = _endless(Counted(list(range(3)), batch_size=2))

    drawn = [next(batches).tolist() for _ in range(5)]

    assert drawn == [[0, 1], [2], [0, 1], [2], [0, 1]]
    assert Counted.passes == 3  # read again each pass, nothing kept to replay


def test_full_mode_starts_from_a_trained_checkpoint_without_a_warm_up(data_root, tmp_path):
    quick_path = train(_config(data_root, tmp_path / "quick", epochs=2, learning_rate=0.05))
    quick = load_checkpoint(quick_path)
    config = _config(
        data_root, tmp_path / "full", quick=False, epochs=1, trainable_blocks=1, batch_size=2
    )
    config = replace(config, pair_batch_size=2, pair_warmup_epochs=-1, learning_rate=1e-12)

    started = load_checkpoint(train(replace(config, init_from=quick_path)))
    fresh = load_checkpoint(train(replace(config, out_dir=tmp_path / "fresh")))

    key = "head.classifier.weight"  # same seed: the quick run moved it from the same init
    assert (started.state_dict[key] - quick.state_dict[key]).abs().max() < 1e-6
    assert (fresh.state_dict[key] - quick.state_dict[key]).abs().max() > 1e-2
    # The fine-tuned stages normalise with the statistics the head was fitted to.
    statistics = [
        name
        for name in quick.state_dict
        if name.startswith("backbone.") and name.endswith(("running_mean", "running_var"))
    ]
    assert statistics
    assert all(torch.equal(started.state_dict[name], quick.state_dict[name]) for name in statistics)
    # The head already reads tags: the pairs join from the first epoch.
    assert started.metrics["pair_loss"] > 0 and (tmp_path / "full" / "pair_tags.pt").exists()
    assert fresh.metrics["pair_loss"] == 0


def test_full_mode_refuses_a_checkpoint_of_another_layout_or_vocabulary(data_root, tmp_path):
    quick_path = train(_config(data_root, tmp_path / "quick", epochs=1))
    config = _config(data_root, tmp_path / "full", quick=False, epochs=1, trainable_blocks=1)
    config = replace(config, init_from=quick_path)

    with pytest.raises(CheckpointMismatchError, match="architecture"):
        train(replace(config, hidden_dim=0))
    with pytest.raises(CheckpointMismatchError, match="vocabulary"):
        train(replace(config, min_count=2))
    with pytest.raises(ValueError, match="full mode"):
        train(replace(config, quick=True))
    assert not (tmp_path / "full" / "embedder.pt").exists()


def test_cli_init_from_is_for_the_full_mode_and_changes_its_defaults(tmp_path, capsys) -> None:
    base = ["--data-dir", "d", "--out", str(tmp_path)]
    started = parse_args([*base, "--init-from", "q/embedder.pt"]).resolved()
    default = parse_args(base).resolved()

    assert started.init_from == Path("q/embedder.pt")
    assert (started.learning_rate, started.pair_warmup_epochs) == (3e-4, 0)
    assert (default.learning_rate, default.pair_warmup_epochs) == (1e-3, 2)
    with pytest.raises(SystemExit):
        parse_args([*base, "--quick", "--init-from", "q/embedder.pt"])
    assert "--init-from is for the full mode" in capsys.readouterr().err
