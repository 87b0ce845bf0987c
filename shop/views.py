"""The shop's own pages for shoppers (the admin and the API live elsewhere)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from shop.services.api_keys import look_page_key

# The page talks to this site's API only and shows photos from anywhere the shopper chose.
LOOK_PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data: blob: http: https:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


@require_GET
def look_page(request: HttpRequest) -> HttpResponse:
    """Paste a photo's URL or upload one; see the items found and the products beside them."""
    response = render(request, "shop/look.html", {"api_key": look_page_key()})
    response["Content-Security-Policy"] = LOOK_PAGE_POLICY
    response["Referrer-Policy"] = "no-referrer"
    return response
