"""A trained embedder checkpoint becomes a model version and fills the catalog."""

import pytest
from django.core.management import CommandError, call_command

from recommender.train_embedder import TrainConfig, train
from shop.models import ModelVersion
from tests.helpers import single_torch_thread
from tests.recommender.synthetic_data import write_catalog

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    write_catalog(root, count=10)
    with single_torch_thread():
        return train(
            TrainConfig(
                data_dir=root,
                out_dir=root / "model",
                quick=True,
                epochs=1,
                min_count=1,
                batch_size=4,
                progress=False,
                code_version="test",
            )
        )


def test_register_model_records_name_hash_dimension_and_vocabulary(checkpoint, capsys):
    call_command("register_model", str(checkpoint))
    version = ModelVersion.objects.get()
    assert version.name.endswith("@" + version.weights_sha256[:12])
    assert version.embedding_dimension == 256 and len(version.weights_sha256) == 64
    assert version.tag_vocabulary and version.status == "registered"
    assert "256-d" in capsys.readouterr().out


def test_register_model_with_fill_activates_on_a_fresh_install(
    checkpoint, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        call_command("register_model", str(checkpoint), fill=True)
    assert ModelVersion.objects.get().status == "active"


def test_register_model_refuses_a_broken_file(tmp_path):
    broken = tmp_path / "embedder.pt"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(CommandError, match="cannot use checkpoint"):
        call_command("register_model", str(broken))
