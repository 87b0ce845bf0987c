"""The back office: catalog and embeddings for merchandisers; API clients and looks."""

from shop.admin import catalog, looks  # noqa: F401 (registers the model admins)
