"""django-oauth-toolkit 3 as a benchmark peer (benchmarks/compare.py): SQLite, refresh rotation with
reuse protection, plain (unhashed) client secrets, OIDC on for its JWKS. Loopback only."""
import os

BASE = os.environ["BENCH_DOT_DIR"]
SECRET_KEY = "benchmark-only-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["django.contrib.auth", "django.contrib.contenttypes", "oauth2_provider"]
MIDDLEWARE = []
ROOT_URLCONF = "bench_dot.urls"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.path.join(BASE, "dot.sqlite3"),
                         # The same SQLite settings as authserver: WAL, synchronous NORMAL,
                         # writers that take the lock up front (Django 5.1+) and wait for it.
                         "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE",
                                     "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"}}}
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGGING = {"version": 1, "disable_existing_loggers": True}
with open(os.path.join(BASE, "rsa.pem")) as handle:
    _RSA = handle.read()
OAUTH2_PROVIDER = {
    "ROTATE_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "ACCESS_TOKEN_EXPIRE_SECONDS": 900,
    "OIDC_ENABLED": True,
    "OIDC_RSA_PRIVATE_KEY": _RSA,
    "SCOPES": {"profile": "profile", "introspection": "introspection", "api": "api", "openid": "openid"},
    "PKCE_REQUIRED": False,
}
