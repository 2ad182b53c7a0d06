"""What an ID token and the UserInfo endpoint say about the user (OpenID Connect Core 1.0 §5.1, §5.4).

``sub`` is the user's id, as in the access token. Which other claims a token may carry is Authlib's
scope-to-claims mapping (``UserInfo.filter``): ``profile`` gives ``preferred_username``, ``email``
gives ``email`` and ``email_verified`` (false: this server never verifies an address).
"""

from __future__ import annotations

from authlib.oidc.core import UserInfo

# The claims this server can give (Discovery 1.0 §3 `claims_supported`): the user's, and the ID token's own.
USER_CLAIMS = ("sub", "preferred_username", "email", "email_verified")
ID_TOKEN_CLAIMS = ("iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "sid")


def user_info(user, scope: str) -> UserInfo:
    """``sub`` and the claims ``scope`` allows of ``user`` (an account: ``id``, ``username``, ``email``)."""
    claims = UserInfo(sub=user.id, preferred_username=user.username)
    if user.email:
        claims.update(email=user.email, email_verified=False)
    return claims.filter(scope)
