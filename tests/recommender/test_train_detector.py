from __future__ import annotations

from pathlib import Path

import pytest
import torch

from recommender.detection.features import FeatureCache
from recommender.detection.training_data import CatalogPhoto
from recommender.fashion_classes import FASHION_CLASSES
from recommender.train_detector import TrainConfig, catalog_loss_mask, label_matrix, train_head


def test_train_head_overfits_a_tiny_batch_of_random_features() -> None:
    torch.manual_seed(0)
    features = torch.randn(12, 32)  # (N, C)
    labels = (torch.rand(12, len(FASHION_CLASSES)) > 0.5).float()  # (N, K)

    head = train_head(
        features, labels, torch.ones_like(labels), TrainConfig(epochs=100, learning_rate=0.1)
    )

    predictions = (head(features) > 0).float()
    assert torch.equal(predictions, labels)


def test_label_matrix_and_catalog_mask_leave_co_worn_garments_unknown() -> None:
    photos = [CatalogPhoto(Path("a.jpg"), "top"), CatalogPhoto(Path("b.jpg"), "bag")]

    labels = label_matrix([frozenset({"top"}), frozenset({"bag", "eyewear"})])
    mask = catalog_loss_mask(photos)

    assert labels[0, FASHION_CLASSES.index("top")] == 1 and labels[0].sum() == 1
    assert labels[1].sum() == 2
    assert mask[0, FASHION_CLASSES.index("bottom")] == 0  # a worn top shows a bottom too
    assert mask[0, FASHION_CLASSES.index("bag")] == 1
    assert mask[1].sum() == len(FASHION_CLASSES)


def test_feature_cache_round_trips_vectors(tmp_path: Path) -> None:
    cache = FeatureCache(tmp_path, "weights-frozen")
    cache.vectors["abc"] = torch.arange(4, dtype=torch.float32).numpy()
    cache.save()

    reloaded = FeatureCache(tmp_path, "weights-frozen")

    assert reloaded.vectors["abc"].tolist() == [0.0, 1.0, 2.0, 3.0]


def test_combine_heads_keeps_each_class_row_of_the_recipe_with_the_best_val_corloc() -> None:
    from recommender.models.cam import CamHead
    from recommender.train_detector import HeadRecipe, combine_heads

    first, second = CamHead(4, FASHION_CLASSES), CamHead(4, FASHION_CLASSES)
    torch.nn.init.constant_(first.linear.weight, 1.0)
    torch.nn.init.constant_(second.linear.weight, 2.0)
    recipes = HeadRecipe(60, 3.0), HeadRecipe(None, 0.0)
    candidates = [
        (recipes[0], first, {"corloc": {"footwear": 0.2, "dress": 0.7}}),
        (recipes[1], second, {"corloc": {"footwear": 0.4, "dress": 0.5}}),
    ]

    head, chosen = combine_heads(candidates)

    weights = head.linear.weight.detach()
    rows = {name: float(weights[i, 0]) for i, name in enumerate(FASHION_CLASSES)}
    assert rows["footwear"] == 2.0 and chosen["footwear"] == recipes[1]
    assert rows["dress"] == 1.0 and chosen["dress"] == recipes[0]
    assert rows["eyewear"] == 1.0 and chosen["eyewear"] == recipes[0]  # no val boxes: first


def test_tuning_on_the_test_split_is_refused_before_any_work(tmp_path: Path) -> None:
    from recommender.train_detector import train

    # No data folder at all: the refusal comes before anything is read or trained.
    with pytest.raises(ValueError, match="test split stays unseen"):
        train(
            tmp_path / "missing", tmp_path / "out", TrainConfig(tune_split="val+test"), version=""
        )
    assert not (tmp_path / "out").exists()


def test_cli_passes_the_tuning_split_and_refuses_others(tmp_path: Path, monkeypatch) -> None:
    import recommender.train_detector as module

    seen: list[TrainConfig] = []

    def fake_train(data_dir: Path, out_dir: Path, config: TrainConfig, *, version: str) -> Path:
        seen.append(config)
        return out_dir / "detector.pt"

    monkeypatch.setattr(module, "train", fake_train)
    arguments = ["--data-dir", str(tmp_path), "--out", str(tmp_path / "out"), "--quick"]

    module.main(arguments)
    module.main([*arguments, "--tune-split", "train+val", "--output-stride", "16"])
    with pytest.raises(SystemExit):
        module.main([*arguments, "--tune-split", "test"])
    with pytest.raises(SystemExit):
        module.main([*arguments, "--output-stride", "20"])

    assert [config.tune_split for config in seen] == ["val", "train+val"]
    assert [config.output_stride for config in seen] == [32, 16]


def test_cli_trains_the_seed_network_from_scratch_and_refuses_to_freeze_it(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    import recommender.train_detector as module

    real_train, seen = module.train, []
    monkeypatch.setattr(
        module, "train", lambda data_dir, out_dir, config, *, version: seen.append(config)
    )
    arguments = ["--data-dir", str(tmp_path), "--out", str(tmp_path / "out")]

    module.main([*arguments, "--architecture", "seed_vgg16_narrow", "--scratch-epochs", "3"])
    with pytest.raises(SystemExit):
        module.main([*arguments, "--architecture", "seed_vgg16", "--quick"])

    assert "leave out --quick to train it from scratch" in capsys.readouterr().err
    assert [(c.architecture, c.scratch_epochs, c.quick) for c in seen] == [
        ("seed_vgg16_narrow", 3, False)
    ]
    with pytest.raises(ValueError, match="no ImageNet weights to freeze"):
        real_train(tmp_path, tmp_path / "out", TrainConfig(architecture="seed_vgg16"), version="")


def test_training_targets_give_each_pooled_size_a_row_and_a_share_of_the_weight() -> None:
    from recommender.data.street import StreetPhoto
    from recommender.train_detector import training_targets

    catalog = [CatalogPhoto(Path("a.jpg"), "top"), CatalogPhoto(Path("b.jpg"), "bag")]
    street = [StreetPhoto("s.jpg", Path("s.jpg"), 550, 832, frozenset({"bag"}), "train")]

    labels, weights = training_targets(catalog, street, 3.0, copies=2)

    top, bag = FASHION_CLASSES.index("top"), FASHION_CLASSES.index("bag")
    assert labels.shape == weights.shape == (5, len(FASHION_CLASSES))
    assert labels[:4, top].tolist() == [1, 0, 1, 0] and labels[:4, bag].tolist() == [0, 1, 0, 1]
    assert labels[4, bag] == 1 and labels[4].sum() == 1
    # each catalog photo weighs 1 in all, whatever the number of sizes; its mask is kept
    assert weights[:4, bag].tolist() == [0.5, 0.5, 0.5, 0.5]
    assert weights[0, FASHION_CLASSES.index("bottom")] == 0  # a worn top shows a bottom
    assert weights[4].tolist() == [3.0] * len(FASHION_CLASSES)
    single_labels, single_weights = training_targets(catalog, street, 3.0)
    assert torch.equal(single_labels, labels[2:]) and single_weights[0, bag] == 1.0


def test_cli_passes_catalog_sizes_in_quick_mode_only(tmp_path: Path, monkeypatch, capsys) -> None:
    import recommender.train_detector as module

    real_train, seen = module.train, []
    monkeypatch.setattr(
        module, "train", lambda data_dir, out_dir, config, *, version: seen.append(config)
    )
    arguments = ["--data-dir", str(tmp_path), "--out", str(tmp_path / "out")]

    module.main([*arguments, "--quick", "--catalog-sizes", "224", "112"])
    module.main([*arguments, "--quick"])
    with pytest.raises(SystemExit):
        module.main([*arguments, "--catalog-sizes", "224", "112"])
    assert "--catalog-sizes is a quick-mode option" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        module.main([*arguments, "--quick", "--catalog-sizes", "16"])
    assert "32 px or more" in capsys.readouterr().err

    assert [config.catalog_sizes for config in seen] == [(224, 112), (224,)]
    # the library refuses the same before reading anything
    with pytest.raises(ValueError, match="quick-mode option"):
        real_train(
            tmp_path, tmp_path / "out", TrainConfig(quick=False, catalog_sizes=(112,)), version=""
        )
    with pytest.raises(ValueError, match="32 px or more"):
        real_train(tmp_path, tmp_path / "out", TrainConfig(catalog_sizes=()), version="")


def test_cli_quantizes_the_new_checkpoint_when_asked_and_keeps_it_if_that_fails(
    tmp_path: Path, data_dir: Path, monkeypatch, capsys
) -> None:
    import json

    import recommender.train_detector as module
    from recommender.detection.int8 import QuantizedGraph
    from recommender.quantize import QuantizationError

    trained = tmp_path / "out" / "detector.pt"
    monkeypatch.setattr(module, "train", lambda data_dir, out_dir, config, *, version: trained)
    calls = []

    def quantized(checkpoint, calibration, check):
        calls.append((checkpoint, len(calibration), len(check)))
        return QuantizedGraph(trained.with_suffix(".int8.xml"), "", "", {"feature_error": 0.2})

    monkeypatch.setattr(module, "quantize_checkpoint", quantized)
    arguments = ["--data-dir", str(data_dir), "--out", str(tmp_path / "out"), "--quick"]

    module.main([*arguments, "--quantize"])
    report = json.loads(capsys.readouterr().out)
    assert report["int8_graph"].endswith("detector.int8.xml") and report["feature_error"] == 0.2
    ((checkpoint, calibration, check),) = calls
    assert checkpoint == trained and calibration > check > 0  # street train and val splits

    def failing(checkpoint, calibration, check):
        raise QuantizationError("too far off")

    monkeypatch.setattr(module, "quantize_checkpoint", failing)
    module.main([*arguments, "--quantize"])
    assert json.loads(capsys.readouterr().out) == {
        "checkpoint": str(trained),
        "wall_seconds": pytest.approx(0, abs=5),
        "int8_graph": None,
    }
    module.main(arguments)
    assert "int8_graph" not in json.loads(capsys.readouterr().out)

    monkeypatch.setattr(module, "nncf_available", lambda: False)
    monkeypatch.setattr(module, "train", lambda *args, **kwargs: pytest.fail("trained"))
    with pytest.raises(SystemExit):
        module.main([*arguments, "--quantize"])
    assert "pip install 'shopalook[quantize]'" in capsys.readouterr().err
