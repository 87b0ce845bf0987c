"""API keys of shopper-facing clients, and the looks they sent (for support)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from rest_framework.throttling import SimpleRateThrottle

from shop.models import ApiKey, Look
from shop.services.api_keys import api_key_create


class ApiKeyForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ["name", "rate", "is_active"]

    def clean_rate(self) -> str:
        rate = self.cleaned_data["rate"].strip()
        if rate:
            try:
                SimpleRateThrottle.parse_rate(None, rate)
            except (ValueError, KeyError):
                raise forms.ValidationError(
                    "write a number of requests per second, min, hour or day, e.g. 60/min"
                ) from None
        return rate


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    form = ApiKeyForm
    list_display = ["name", "prefix", "is_active", "rate", "created_at", "last_used_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "prefix"]
    readonly_fields = ["prefix", "created_at", "last_used_at"]
    actions = ["revoke"]

    def save_model(self, request: HttpRequest, obj: ApiKey, form, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        created = api_key_create(name=obj.name, rate=obj.rate)  # the form checked the name
        obj.pk, obj.prefix = created.api_key.pk, created.api_key.prefix
        if not obj.is_active:
            ApiKey.objects.filter(pk=obj.pk).update(is_active=False)
        messages.warning(
            request,
            f"The API key of {obj.name} is {created.key} — copy it now: "
            "it is stored only as a hash and will not be shown again.",
        )

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        count = queryset.update(is_active=False)
        self.message_user(request, f"{count} key(s) revoked.", messages.SUCCESS)


@admin.register(Look)
class LookAdmin(admin.ModelAdmin):
    """Read-only: what shoppers sent and what came back (kept for LOOK_RETENTION_HOURS)."""

    list_display = [
        "id",
        "status",
        "error_code",
        "api_key",
        "item_count",
        "attempts",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status", "error_code", "api_key"]
    search_fields = ["id", "image_url", "page_url"]
    exclude = ["image_data"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Look]:
        return (
            super()
            .get_queryset(request)
            .select_related("api_key")
            .annotate(number_of_items=Count("items"))
        )

    @admin.display(description="items", ordering="number_of_items")
    def item_count(self, look: Look) -> int:
        return look.number_of_items

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
