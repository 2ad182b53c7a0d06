"""Set up the django-oauth-toolkit peer: tables, a user, the clients, and N refresh-token chains
(written directly, as a sign-in would leave them). Prints one JSON object. Run by compare.py:
    BENCH_DOT_DIR=... python seed.py N PASSWORD"""
import datetime as dt
import json
import os
import secrets
import sys
import uuid

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench_dot.settings")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import django  # noqa: E402

django.setup()
from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.utils import timezone  # noqa: E402
from oauth2_provider.models import AccessToken  # noqa: E402
from oauth2_provider.models import Application  # noqa: E402
from oauth2_provider.models import RefreshToken  # noqa: E402

n, password = int(sys.argv[1]), sys.argv[2]
call_command("migrate", verbosity=0)
user = User.objects.create_user("bench", password=password)


def app(name, grant, secret):
    return Application.objects.create(name=name, client_id=name, client_secret=secret, hash_client_secret=False,
                                      client_type=Application.CLIENT_CONFIDENTIAL, authorization_grant_type=grant)


secrets_ = {name: "%s-secret-%s" % (name, secrets.token_hex(8)) for name in ("bench-pw", "bench-cc", "bench-rs")}
pw = app("bench-pw", Application.GRANT_PASSWORD, secrets_["bench-pw"])
app("bench-cc", Application.GRANT_CLIENT_CREDENTIALS, secrets_["bench-cc"])
app("bench-rs", Application.GRANT_CLIENT_CREDENTIALS, secrets_["bench-rs"])
refresh, access = [], []
expires = timezone.now() + dt.timedelta(hours=1)
for _ in range(n):
    at = AccessToken.objects.create(user=user, application=pw, token=secrets.token_urlsafe(30), expires=expires,
                                    scope="profile")
    rt = RefreshToken.objects.create(user=user, application=pw, token=secrets.token_urlsafe(30), access_token=at,
                                     token_family=uuid.uuid4())
    at.source_refresh_token = rt
    refresh.append(rt.token)
    access.append(AccessToken.objects.create(user=user, application=pw, token=secrets.token_urlsafe(30),
                                             expires=expires, scope="profile").token)
print(json.dumps({"secrets": secrets_, "refresh_tokens": refresh, "access_tokens": access}))
