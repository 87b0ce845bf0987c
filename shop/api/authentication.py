"""Shopper-facing clients (extension, look page, partners) authenticate with an API key."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.throttling import SimpleRateThrottle

from shop.models import ApiKey
from shop.services.api_keys import api_key_authenticate

KEYWORD = "Api-Key"


class ApiKeyAuthentication(BaseAuthentication):
    """``Authorization: Api-Key <key>`` (or ``X-Api-Key: <key>``); ``request.auth`` is the key."""

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if header:
            scheme, _, key = header.partition(" ")
            if scheme.lower() != KEYWORD.lower():
                return None
        elif "HTTP_X_API_KEY" in request.META:
            key = request.META["HTTP_X_API_KEY"]
        else:
            return None  # no key at all: HasApiKey answers 401 "not_authenticated"
        if not key.strip():
            raise exceptions.AuthenticationFailed("the API key is empty")
        api_key = api_key_authenticate(key=key)
        if api_key is None:
            raise exceptions.AuthenticationFailed("the API key is unknown or has been revoked")
        return AnonymousUser(), api_key

    def authenticate_header(self, request) -> str:
        return KEYWORD  # makes DRF answer 401 (not 403) without a key


class ApiKeySchema(OpenApiAuthenticationExtension):
    """The API key in the OpenAPI schema, so generated clients send it."""

    target_class = ApiKeyAuthentication
    name = "ApiKey"

    def get_security_definition(self, auto_schema) -> dict:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key <key>`; keys are created in the admin (API keys)",
        }


class HasApiKey(BasePermission):
    message = "this API needs an API key: send the header 'Authorization: Api-Key <key>'"

    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, ApiKey)


class ApiKeyRateThrottle(SimpleRateThrottle):
    """Per API key: looks started at the key's own rate, reads (polling) at a shared rate."""

    def __init__(self) -> None:  # the rate depends on the key: chosen per request
        self.rate = None

    def allow_request(self, request, view) -> bool:
        if not isinstance(request.auth, ApiKey):
            return True
        self.rate = self.rate_for(request.auth, request.method)
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    @staticmethod
    def rate_for(api_key: ApiKey, method: str) -> str:
        if method == "POST":
            return api_key.rate or settings.LOOK_DEFAULT_RATE
        return settings.LOOK_READ_RATE

    def get_cache_key(self, request, view) -> str:
        scope = "create" if request.method == "POST" else "read"
        return f"throttle_api_key_{scope}_{request.auth.pk}"
