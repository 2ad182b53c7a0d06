from django.urls import include
from django.urls import path

urlpatterns = [path("o/", include("oauth2_provider.urls", namespace="oauth2_provider"))]
