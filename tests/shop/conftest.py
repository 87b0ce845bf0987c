import pytest

from shop.models import ModelVersion
from shop.services.embeddings import model_version_register


@pytest.fixture
def active_version(db) -> ModelVersion:
    """An active model version of small vectors (no network is loaded for it)."""
    version = model_version_register(
        name="test-8d", source="test", weights_sha256="a" * 64, embedding_dimension=8
    )
    version.status = ModelVersion.Status.ACTIVE
    version.save(update_fields=["status"])
    return version
