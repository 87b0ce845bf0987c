from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from shop.views import look_page
from shopalook.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("look/", look_page, name="look-page"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("shop.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]
urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
