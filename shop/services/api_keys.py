"""API keys of shopper-facing clients: created once, shown once, stored as a hash."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from shop.exceptions import Conflict
from shop.models import ApiKey

KEY_PREFIX = "sal"
LOOK_PAGE_KEY_NAME = "Shop look page"
# last_used_at is a hint for merchandisers, not an audit log: write it at most this often.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class NewApiKey:
    api_key: ApiKey
    key: str  # the only time the key is known in full


def _digest(key: str) -> str:
    # Keys are 256-bit random strings, so a plain hash is as strong as a slow one here.
    return hashlib.sha256(key.encode()).hexdigest()


def _parts(key: str) -> tuple[str, str] | None:
    pieces = key.split("_", 2)
    if len(pieces) != 3 or pieces[0] != KEY_PREFIX or not pieces[1] or not pieces[2]:
        return None
    return pieces[1], pieces[2]


@transaction.atomic
def api_key_create(*, name: str, rate: str = "") -> NewApiKey:
    """A new key for a client; the returned key string is not stored anywhere."""
    prefix = secrets.token_hex(4)
    key = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    try:
        with transaction.atomic():
            api_key = ApiKey.objects.create(
                name=name, prefix=prefix, key_sha256=_digest(key), rate=rate
            )
    except IntegrityError:
        raise Conflict(f"an API key named {name!r} exists already") from None
    return NewApiKey(api_key, key)


def api_key_authenticate(*, key: str) -> ApiKey | None:
    """The active key matching ``key``, or None."""
    parts = _parts(key.strip())
    if parts is None:
        return None
    api_key = ApiKey.objects.filter(prefix=parts[0], is_active=True).first()
    if api_key is None or not hmac.compare_digest(api_key.key_sha256, _digest(key.strip())):
        return None
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key


def look_page_key() -> str:
    """The key of the shop's own /look/ page, derived from SECRET_KEY (so never stored).

    The page is a public client like the extension: the key identifies and throttles it;
    it grants nothing an extension key does not.
    """
    secret = hmac.new(settings.SECRET_KEY.encode(), b"shopalook look page", "sha256").hexdigest()
    key = f"{KEY_PREFIX}_{secret[:8]}_{secret[8:]}"
    api_key = ApiKey.objects.filter(name=LOOK_PAGE_KEY_NAME).first()
    if api_key is None or api_key.key_sha256 != _digest(key):
        try:
            with transaction.atomic():  # SECRET_KEY changed: the old page key stops working
                ApiKey.objects.filter(name=LOOK_PAGE_KEY_NAME).delete()
                ApiKey.objects.create(
                    name=LOOK_PAGE_KEY_NAME,
                    prefix=secret[:8],
                    key_sha256=_digest(key),
                    rate=settings.LOOK_PAGE_RATE,
                )
        except IntegrityError:
            pass  # a concurrent first page view created it
    return key
