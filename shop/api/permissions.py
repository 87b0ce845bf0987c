from rest_framework.permissions import SAFE_METHODS, BasePermission


class ReadOnlyOrCatalogEditor(BasePermission):
    """Anyone reads the catalog; writing needs a user allowed to change products."""

    message = "changing the catalog needs a user with the shop.change_product permission"

    def has_permission(self, request, view) -> bool:
        if request.method in SAFE_METHODS:
            return True
        user = request.user
        return bool(user and user.is_authenticated and user.has_perm("shop.change_product"))
