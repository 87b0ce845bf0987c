"""Domain errors raised by services; the API maps each to a 4xx response."""


class ShopError(Exception):
    """Base of the errors a client can act on; ``code`` is stable, the message is for people."""

    status_code = 400
    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class NotFound(ShopError):
    status_code = 404
    code = "not_found"


class Conflict(ShopError):
    status_code = 409
    code = "conflict"


class CatalogImportError(ShopError):
    code = "catalog_invalid"
