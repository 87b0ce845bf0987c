from __future__ import annotations

import numpy as np
import pytest

from recommender.tags import OTHER, TagVocabulary, build_vocabulary
from tests.recommender.synthetic_data import catalog_rows

GROUPS = {"articleType": "articleType", "baseColour": "baseColour", "usage": "usage"}


def _vocabulary(**options) -> TagVocabulary:
    rows = catalog_rows(12) + [{"articleType": "Saree", "baseColour": "Red", "usage": "Travel"}]
    return build_vocabulary(rows, column_groups=GROUPS, min_count=2, **options)


def test_rare_values_fold_into_other_and_na_is_a_real_value() -> None:
    vocabulary = _vocabulary()

    assert vocabulary.group("articleType").values[-1] == OTHER
    assert "Saree" not in vocabulary.group("articleType").values
    assert "NA" in vocabulary.group("usage").values


def test_drop_policy_leaves_rare_values_without_target() -> None:
    vocabulary = _vocabulary(rare="drop")
    _, mask = vocabulary.encode({"articleType": "Saree", "baseColour": "Red", "usage": "NA"})

    assert OTHER not in vocabulary.group("articleType").values
    assert mask[vocabulary.slices()["articleType"]].sum() == 0
    assert mask[vocabulary.slices()["baseColour"]].all()


def test_encode_then_decode_round_trips_every_group() -> None:
    vocabulary = _vocabulary()
    row = {"articleType": "Casual Shoes", "baseColour": "Blue", "usage": "NA"}
    target, mask = vocabulary.encode(row)

    (tagset,) = vocabulary.decode(target[None, :] * 0.9)

    assert target.sum() == 3 and mask.sum() == vocabulary.size
    assert {group: value for group, (value, _) in tagset.items()} == row
    assert tagset["baseColour"][1] == pytest.approx(0.9)


def test_empty_cell_masks_its_group() -> None:
    vocabulary = _vocabulary()
    target, mask = vocabulary.encode({"articleType": "", "baseColour": "Red", "usage": "NA"})

    assert target[vocabulary.slices()["articleType"]].sum() == 0
    assert mask[vocabulary.slices()["articleType"]].sum() == 0


def test_json_round_trip_keeps_layout_and_fingerprint() -> None:
    vocabulary = _vocabulary()
    restored = TagVocabulary.from_json(vocabulary.to_json())

    assert restored == vocabulary
    assert restored.fingerprint() == vocabulary.fingerprint()


def test_decode_rejects_wrong_width() -> None:
    with pytest.raises(ValueError, match="probabilities"):
        _vocabulary().decode(np.zeros((1, 3)))


def test_decode_keeps_each_item_within_its_allowed_values():
    vocabulary = TagVocabulary.from_dict(
        {
            "groups": [
                {"name": "articleType", "column": "articleType",
                 "values": ["Tshirts", "Casual Shoes", "Jeans"], "counts": [5, 5, 5]},
            ],
            "min_count": 1,
            "rare": "fold",
        }
    )  # fmt: skip
    probabilities = np.array([[0.9, 0.3, 0.2], [0.9, 0.3, 0.2], [0.9, 0.3, 0.2]])

    tagsets = vocabulary.decode(
        probabilities,
        [{"articleType": {"Casual Shoes", "Sandals"}}, None, {"articleType": {"Sandals"}}],
    )

    assert tagsets[0]["articleType"] == ("Casual Shoes", 0.3)  # the best allowed value
    assert tagsets[1]["articleType"] == ("Tshirts", 0.9)  # no constraint
    assert tagsets[2]["articleType"] == ("Tshirts", 0.9)  # none allowed is known: free
    with pytest.raises(ValueError, match="constraints"):
        vocabulary.decode(probabilities, [None])
