"""The one exception handler: every error body is ``{"detail": ..., "code": ...}``."""

from __future__ import annotations

from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from shop.exceptions import ShopError


def exception_handler(error: Exception, context: dict) -> Response | None:
    if isinstance(error, ShopError):
        return Response({"detail": error.message, "code": error.code}, status=error.status_code)
    response = drf_exception_handler(error, context)
    if response is None:
        return None
    if isinstance(error, exceptions.ValidationError):
        response.data = {"detail": "invalid input", "code": "invalid", "errors": response.data}
    elif isinstance(response.data, dict) and "detail" in response.data:
        detail = response.data["detail"]
        response.data = {"detail": str(detail), "code": getattr(detail, "code", "error")}
    if response.status_code == status.HTTP_405_METHOD_NOT_ALLOWED:
        response.data["code"] = "method_not_allowed"
    return response
