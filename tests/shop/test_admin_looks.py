import pytest

from shop.models import ApiKey
from shop.services.api_keys import api_key_authenticate

pytestmark = pytest.mark.django_db


def test_merchandiser_creates_an_api_key_and_sees_it_once(admin_client):
    response = admin_client.post(
        "/admin/shop/apikey/add/", {"name": "Partner blog", "rate": "30/min", "is_active": "on"},
        follow=True,
    )  # fmt: skip

    assert response.status_code == 200
    shown = [str(message) for message in response.context["messages"]]
    key = next(word for text in shown for word in text.split() if word.startswith("sal_"))
    api_key = api_key_authenticate(key=key)
    assert api_key is not None and api_key.name == "Partner blog" and api_key.rate == "30/min"
    assert key not in admin_client.get(f"/admin/shop/apikey/{api_key.pk}/change/").content.decode()


def test_api_key_with_a_malformed_rate_is_refused_by_the_form(admin_client):
    response = admin_client.post("/admin/shop/apikey/add/", {"name": "x", "rate": "lots"})

    assert response.status_code == 200  # the form again, with the error
    assert "e.g. 60/min" in response.content.decode()
    assert not ApiKey.objects.exists()


def test_revoked_key_no_longer_authenticates(admin_client):
    from shop.services.api_keys import api_key_create

    created = api_key_create(name="old")

    admin_client.post(
        "/admin/shop/apikey/",
        {"action": "revoke", "_selected_action": [created.api_key.pk]},
    )

    assert api_key_authenticate(key=created.key) is None


def test_keys_with_any_random_secret_authenticate():
    from shop.services.api_keys import api_key_create

    keys = [api_key_create(name=f"client {number}").key for number in range(40)]

    assert all(api_key_authenticate(key=key) is not None for key in keys)


def test_looks_list_is_read_only_for_support(admin_client):
    response = admin_client.get("/admin/shop/look/")

    assert response.status_code == 200
    assert admin_client.get("/admin/shop/look/add/").status_code == 403
